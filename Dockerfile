# syntax=docker/dockerfile:1
# The smart-city edge gateway as a container image (issue 15 item 2). Multi-stage: TypeScript is compiled
# in the first stage, production dependencies are installed in the second, and the image carries only
# dist/, those node_modules and what the code reads beside them. It runs as the non-root smartcity user
# (in the dialout group for serial devices passed in with --device), keeps its spool in the
# /var/lib/smartcity volume and reports its health from /healthz.
#
#   docker build -t smartcity .                                   # amd64 and arm64 alike (buildx --platform)
#   docker run -d --name smartcity -p 1883:1883 -v smartcity-data:/var/lib/smartcity \
#     --device /dev/ttyUSB0 -v ./gateway.yaml:/etc/smartcity/gateway.yaml:ro smartcity
#
# Not built in this repository's CI: the CI machine has no container runtime and no base image; the Debian
# package (npm run package:deb) is the tested artifact. compose.yaml adds InfluxDB 1.8 and Mosquitto.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli cli
COPY gateway gateway
COPY devices devices
COPY simulators simulators
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json --sourceMap false \
 && node -e "require('node:fs').writeFileSync('dist/.build-stamp', new Date().toISOString())"

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: serialport's addon is loaded from the prebuilds its npm package ships (linux-x64,
# linux-arm64, glibc); nothing is compiled, so no build tools are needed in any stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && find node_modules -name '*.map' -type f -delete

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    SMARTCITY_HEALTHZ=http://127.0.0.1:8080/healthz
# The service's user: a system account in dialout (gid 20 on Debian, as on the host, so a serial adapter
# passed with --device /dev/ttyUSB0 is readable and writable without root).
RUN useradd --system --user-group --groups dialout --home-dir /var/lib/smartcity --shell /usr/sbin/nologin smartcity \
 && install -d -m 0750 -o smartcity -g smartcity /var/lib/smartcity \
 && install -d -m 0755 /etc/smartcity
WORKDIR /usr/lib/smartcity
COPY --from=deps /app/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json ./
COPY bin/smartcity.js bin/smartcity.js
COPY dashboards/web dashboards/web
COPY simulators/scenarios simulators/scenarios
COPY --chmod=0644 packaging/docker/gateway.yaml /etc/smartcity/gateway.yaml
RUN ln -s /usr/lib/smartcity/bin/smartcity.js /usr/local/bin/smartcity \
 && smartcity check-config /etc/smartcity/gateway.yaml
USER smartcity
VOLUME ["/var/lib/smartcity"]
# MQTT (embedded broker), HTTP API and /healthz, JT/T 808, HJ 212.
EXPOSE 1883 8080 7808 9212
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.SMARTCITY_HEALTHZ).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# The gateway stops in order on SIGTERM within gateway.stopTimeoutSec (15 s): give `docker stop -t 25`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/usr/lib/smartcity/bin/smartcity.js"]
CMD ["gateway", "--config", "/etc/smartcity/gateway.yaml"]
