/** Where a CLI command writes its lines (console by default; tests pass a collector). */
export type Out = { log(line: string): void; error(line: string): void };
