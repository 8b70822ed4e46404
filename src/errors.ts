/**
 * One error family for everything graft reports to a user. The CLI prints `message` as one line
 * and exits non-zero; anything that is not a GraftError is a bug and shows its stack.
 */
export class GraftError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A source file is malformed: names the file and where (byte offset, key or line:column). */
export class FormatError extends GraftError {
  readonly file: string;
  readonly where: string | undefined;
  readonly detail: string;
  constructor(file: string, where: string | number | undefined, detail: string) {
    const at = where === undefined ? '' : typeof where === 'number' ? ` at byte ${where}` : ` at ${where}`;
    super(`${file}${at}: ${detail}`);
    this.file = file;
    this.where = where === undefined ? undefined : String(where);
    this.detail = detail;
  }
}

/** The input is valid but asks for something graft does not support (a layer type, a dtype...). */
export class UnsupportedError extends GraftError {
  constructor(message: string) {
    super(message);
  }
}

/** The user asked for something contradictory or incomplete (flags, paths). */
export class UsageError extends GraftError {
  override readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
  }
}
