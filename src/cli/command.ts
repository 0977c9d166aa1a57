/** Shape of one `parasight <command>`; each lives in its own file under cli/commands/. */
export interface Command {
  name: string;
  /** One line for `parasight --help`. */
  summary: string;
  /** Full usage text for `parasight <command> --help`: every flag documented. */
  usage: string;
  /** Returns the exit code: 0 ok/clean, 1 findings, 2 usage or input error. */
  run(argv: string[]): Promise<number>;
}

/** Thrown for bad flags: the CLI prints the message and the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;
