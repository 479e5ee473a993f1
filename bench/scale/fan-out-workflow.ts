// The dispatch benchmark's workflow (bench/scale/dispatch.ts): one activity on each of N node
// queues at once, as the modeling workflow starts its collectors, ROUNDS times.
import { proxyActivities } from '@temporalio/workflow';

export async function fanOut(queues: string[], rounds: number): Promise<number[]> {
  const ends: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ends.push(...(await Promise.all(queues.map((taskQueue) => proxyActivities<{ ping(): Promise<number> }>({ taskQueue, startToCloseTimeout: '10 minutes' }).ping()))));
  }
  return ends;
}
