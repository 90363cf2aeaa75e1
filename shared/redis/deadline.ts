// A time bound on a promise: what a command or a connect may take, counted on the clock of the command it serves.

export class DeadlineExceededError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what} took longer than ${timeoutMs} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/** `work`, or DeadlineExceededError (after `onTimeout`) once `deadline` (ms since the epoch) has passed. */
export function withDeadline<T>(work: Promise<T>, deadline: number, what: string, onTimeout: () => void): Promise<T> {
  const remaining = deadline - Date.now();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        onTimeout();
        reject(new DeadlineExceededError(what, Math.max(remaining, 0)));
      },
      Math.max(remaining, 0),
    );
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
