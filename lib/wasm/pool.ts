/**
 * The worker threads of the wasm backend and the order of its asynchronous calls: one call at a
 * time runs on the workers (the others wait in line), as the native CPU pool runs at most its
 * thread count of threads whatever the number of calls in flight. Workers start on first use and
 * never keep the process alive while idle; a worker that dies fails the requests it held, and
 * the pool starts a fresh one for the next call.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker, type WorkerReply, type WorkerRequest, type WorkerSetup, type WorkerTask } from './worker.js';

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void; worker: number };

export class WorkerPool {
  private readonly workers: (Worker | null)[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private tail: Promise<unknown> = Promise.resolve();

  /** `setup(i)`: what worker i starts with (its stack, the memory). */
  constructor(
    readonly size: number,
    private readonly setup: (i: number) => WorkerSetup,
  ) {
    this.workers = new Array<Worker | null>(size).fill(null);
  }

  /** Runs `job` after every job queued before it has settled. */
  exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job, job);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Sends a request to worker i and resolves with its reply (rejects when the worker failed). */
  request(i: number, task: WorkerTask, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    const w = this.worker(i);
    const id = this.nextId++;
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: i });
      w.ref(); // a call in flight keeps the process alive, as a native call does
      w.postMessage({ ...task, id } satisfies WorkerRequest, transfer);
    }).then((reply) => {
      if (reply.error !== undefined) throw new Error(`wasm backend: ${reply.error}`);
      return reply;
    });
  }

  /** Stops every worker (requests in flight fail). */
  async close(): Promise<void> {
    const ws = this.workers.splice(0, this.workers.length, ...new Array<Worker | null>(this.size).fill(null));
    await Promise.all(ws.map((w) => w?.terminate()));
  }

  private worker(i: number): Worker {
    const existing = this.workers[i];
    if (existing) return existing;
    const w = startWorker(this.setup(i));
    this.workers[i] = w;
    w.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (!this.hasPending(i)) w.unref();
      p.resolve(reply);
    });
    const fail = (err: Error) => {
      if (this.workers[i] === w) this.workers[i] = null;
      for (const [id, p] of this.pending) {
        if (p.worker !== i) continue;
        this.pending.delete(id);
        p.reject(new Error(`wasm backend: worker thread ${i} failed (${err.message})`));
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    return w;
  }

  private hasPending(i: number): boolean {
    for (const p of this.pending.values()) if (p.worker === i) return true;
    return false;
  }
}
