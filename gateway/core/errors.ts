/** Errors with a stable code and a cause (fastify lib/errors.js style). */
export class GatewayError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'GatewayError'
  }
}
