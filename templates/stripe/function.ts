/**
 * {{functionName}}: creates a Stripe Checkout Session and returns its URL. The browser sends
 * `{ priceId, quantity?, successUrl?, cancelUrl? }`; the secret key never leaves the server.
 *
 * Trigger params: `stripeSecretKey` (secret), `successUrl` and `cancelUrl` (used when the payload
 * names none).
 */

interface CheckoutPayload {
  priceId?: unknown
  quantity?: unknown
  successUrl?: unknown
  cancelUrl?: unknown
}

interface CheckoutSession {
  id: string
  url: string
}

export async function run() {
  const secretKey = triggerParams.stripeSecretKey
  if (typeof secretKey !== 'string' || secretKey === '') {
    return { success: false, error: 'API key not configured' }
  }

  const payload = (executionParams.payload ?? {}) as CheckoutPayload
  if (typeof payload.priceId !== 'string' || !payload.priceId.startsWith('price_')) {
    return { success: false, error: 'priceId must be a Stripe price id such as "price_123"' }
  }
  const quantity = payload.quantity ?? 1
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > 100) {
    return { success: false, error: 'quantity must be a whole number from 1 to 100' }
  }
  const successUrl = payload.successUrl ?? triggerParams.successUrl
  const cancelUrl = payload.cancelUrl ?? triggerParams.cancelUrl
  for (const [name, value] of [
    ['successUrl', successUrl],
    ['cancelUrl', cancelUrl],
  ] as const) {
    if (typeof value !== 'string' || !/^https?:$/.test(URL.canParse(value) ? new URL(value).protocol : '')) {
      return { success: false, error: `${name} must be an http(s) URL` }
    }
  }

  try {
    // Stripe takes form-encoded bodies, and the secret key as the Basic auth user name.
    const session = await api.httpPost<CheckoutSession>(
      'https://api.stripe.com/v1/checkout/sessions',
      new URLSearchParams({
        'line_items[0][price]': payload.priceId,
        'line_items[0][quantity]': String(quantity),
        mode: 'payment',
        success_url: String(successUrl),
        cancel_url: String(cancelUrl),
      }).toString(),
      {
        headers: {
          Authorization: `Basic ${btoa(secretKey + ':')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
      },
    )
    return { success: true, data: { url: session.url, id: session.id } }
  } catch (error) {
    // An upstream error status (402 card declined, 400 bad price, ...) is a failure.
    const { status, body } = error as { status?: number; body?: { error?: { message?: string } } }
    const message = body?.error?.message ?? (error as Error).message
    api.logError({ upstreamStatus: status, error: message })
    return { success: false, status, error: message }
  }
}
