import WebSocket from 'ws'

export interface EventClient {
  events: { type: string; data?: Record<string, unknown> }[]
  /** Resolves with the first received event matching `predicate`, or rejects after `ms`. */
  waitFor(
    predicate: (e: { type: string; data?: Record<string, unknown> }) => boolean,
    ms?: number,
  ): Promise<{ type: string; data?: Record<string, unknown> }>
  close(): void
}

/** Gets a ticket with the token and opens /ws; resolves once the server says it is subscribed. */
export async function connectEvents(baseUrl: string, token: string): Promise<EventClient> {
  const ticket = await fetch(`${baseUrl}/ws/ticket`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  })
  const { ticket: value } = (await ticket.json()) as { ticket: string }
  const socket = new WebSocket(
    `${baseUrl.replace(/^http/, 'ws')}/ws?ticket=${encodeURIComponent(value)}`,
  )
  const events: EventClient['events'] = []
  const waiters = new Set<() => void>()
  socket.on('message', (raw) => {
    events.push(JSON.parse(raw.toString()))
    for (const wake of waiters) wake()
  })
  const client: EventClient = {
    events,
    waitFor(predicate, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(predicate)
          if (!found) return
          cleanup()
          resolve(found)
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`no matching event in ${ms} ms; got ${JSON.stringify(events)}`))
        }, ms)
        const cleanup = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    close: () => socket.close(),
  }
  await client.waitFor((e) => e.type === 'connected')
  return client
}

/** The HTTP status a refused WebSocket upgrade got. */
export function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      socket.terminate()
    })
    socket.on('open', () => {
      socket.close()
      reject(new Error('the connection was accepted'))
    })
    socket.on('error', () => undefined)
  })
}
