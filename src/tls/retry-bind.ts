/**
 * Binds a port again right after its previous listener was told to close: a few tries, since the
 * runtime may release the socket a moment later.
 */
export async function retryBind<T>(bind: () => T, attempts = 50, delayMs = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return bind();
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
