/** How bad an alarm is (the `severity` tag of `alarm` points): one definition for the store and the events. */
import { z } from 'zod'

export const Severity = z.enum(['info', 'warning', 'critical'])
export type Severity = z.infer<typeof Severity>
