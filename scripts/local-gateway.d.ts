import type { Server } from 'node:http';

export function createLocalGateway(options: { upstreamPort: number; stage: string; origins: readonly string[] }): Server;
export function browserMethods(pathname: string, stage: string): string[];
