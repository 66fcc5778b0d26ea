#!/usr/bin/env node
// The `smartcity` command. Runs the TypeScript sources through tsx's loader, so `npx smartcity ...` works in a
// checkout right after `npm ci` with no build step; `npm run build` still produces plain JS in dist/ for
// deployments that want it (`node dist/cli/main.js`).
import { register } from 'tsx/esm/api'

register()
await import('../cli/main.ts')
