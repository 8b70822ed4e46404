/**
 * Protocol-buffer text format (what Caffe's .prototxt files are) → a schema-free tree. The schema
 * check and the conversion to messages live in text-message.ts. protobufjs has no text parser.
 *
 * Accepted: `name: value`, `name { ... }` / `name: { ... }` / `name < ... >`, list values
 * `name: [a, b]`, strings in either quote with C escapes (adjacent strings concatenate), decimal /
 * hex / octal integers, floats with exponent and an optional `f` suffix, `-inf`, `nan`,
 * identifiers (enum values, booleans), `#` comments, and `,` or `;` after any field.
 */
import { FormatError } from '../../errors.js';

export interface TextPosition {
  line: number;
  column: number;
}

export type TextValue =
  | (TextPosition & { kind: 'message'; fields: TextField[] })
  | (TextPosition & { kind: 'string'; value: string })
  | (TextPosition & { kind: 'number'; text: string; value: number; integer: boolean })
  | (TextPosition & { kind: 'identifier'; text: string; negative: boolean })
  /** `[a, b, c]`: several values of one repeated field. */
  | (TextPosition & { kind: 'list'; items: TextValue[] });

export interface TextField extends TextPosition {
  name: string;
  value: TextValue;
}

export type TextMessage = Extract<TextValue, { kind: 'message' }>;

type Token =
  | (TextPosition & { kind: 'identifier'; text: string })
  | (TextPosition & { kind: 'number'; text: string })
  | (TextPosition & { kind: 'string'; value: string })
  | (TextPosition & { kind: 'punct'; text: string })
  | (TextPosition & { kind: 'end' });

export function where(position: TextPosition): string {
  return `line ${position.line}:${position.column}`;
}

export function parsePrototxt(text: string, file: string): TextMessage {
  const tokens = new Tokenizer(text, file);
  const parser = new Parser(tokens, file);
  return parser.document();
}

const PUNCTUATION = new Set(['{', '}', '<', '>', ':', ',', ';', '[', ']', '-']);
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?)/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*/;

class Tokenizer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: Token | undefined;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  peek(): Token {
    this.peeked ??= this.read();
    return this.peeked;
  }

  next(): Token {
    const token = this.peek();
    this.peeked = undefined;
    return token;
  }

  private position(): TextPosition {
    return { line: this.line, column: this.pos - this.lineStart + 1 };
  }

  private fail(message: string, at: TextPosition = this.position()): never {
    throw new FormatError(this.file, where(at), message);
  }

  private skipSpaceAndComments(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text[this.pos];
      if (c === '\n') {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.pos++;
      } else if (c === '#') {
        while (this.pos < text.length && text[this.pos] !== '\n') this.pos++;
      } else {
        break;
      }
    }
  }

  private read(): Token {
    this.skipSpaceAndComments();
    const at = this.position();
    if (this.pos >= this.text.length) return { ...at, kind: 'end' };
    const rest = this.text.slice(this.pos, this.pos + 256);
    const c = rest[0];
    if (c === '"' || c === "'") return { ...at, kind: 'string', value: this.string(c) };
    const number = NUMBER.exec(rest);
    if (number) {
      this.pos += number[0].length;
      if (IDENTIFIER.test(this.text.slice(this.pos, this.pos + 1))) this.fail(`malformed number '${number[0]}${this.text[this.pos]}…'`, at);
      return { ...at, kind: 'number', text: number[0] };
    }
    const identifier = IDENTIFIER.exec(rest);
    if (identifier) {
      this.pos += identifier[0].length;
      return { ...at, kind: 'identifier', text: identifier[0] };
    }
    if (PUNCTUATION.has(c)) {
      this.pos++;
      return { ...at, kind: 'punct', text: c };
    }
    this.fail(`unexpected character ${JSON.stringify(c)}`, at);
  }

  /** A quoted literal; the text format's strings are byte strings, read here as UTF-8. */
  private string(quote: string): string {
    const start = this.position();
    const text = this.text;
    this.pos++;
    const bytes: number[] = [];
    const encoder = new TextEncoder();
    while (true) {
      if (this.pos >= text.length || text[this.pos] === '\n') this.fail('unterminated string', start);
      const c = text[this.pos];
      if (c === quote) {
        this.pos++;
        break;
      }
      if (c !== '\\') {
        const code = text.codePointAt(this.pos)!;
        const char = String.fromCodePoint(code);
        for (const b of encoder.encode(char)) bytes.push(b);
        this.pos += char.length;
        continue;
      }
      const escapeAt = this.position();
      const e = text[this.pos + 1];
      this.pos += 2;
      const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };
      if (e !== undefined && e in simple) {
        bytes.push(simple[e]);
      } else if (e !== undefined && /[0-7]/.test(e)) {
        let digits = e;
        while (digits.length < 3 && /[0-7]/.test(text[this.pos] ?? '')) digits += text[this.pos++];
        const value = parseInt(digits, 8);
        if (value > 255) this.fail(`octal escape \\${digits} is out of range`, escapeAt);
        bytes.push(value);
      } else if (e === 'x' || e === 'X') {
        let digits = '';
        while (digits.length < 2 && /[0-9a-fA-F]/.test(text[this.pos] ?? '')) digits += text[this.pos++];
        if (!digits) this.fail('\\x escape without hex digits', escapeAt);
        bytes.push(parseInt(digits, 16));
      } else if (e === 'u' || e === 'U') {
        const length = e === 'u' ? 4 : 8;
        const digits = text.slice(this.pos, this.pos + length);
        if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(digits)) this.fail(`\\${e} escape needs ${length} hex digits`, escapeAt);
        const code = parseInt(digits, 16);
        if (code > 0x10ffff) this.fail(`\\${e}${digits} is not a Unicode code point`, escapeAt);
        this.pos += length;
        for (const b of encoder.encode(String.fromCodePoint(code))) bytes.push(b);
      } else {
        this.fail(`unknown escape \\${e ?? ''}`, escapeAt);
      }
    }
    return new TextDecoder().decode(Uint8Array.from(bytes));
  }
}

/** Deeper nesting than any real net has; bounds the parser's recursion on hostile input. */
const MAX_DEPTH = 100;

class Parser {
  private depth = 0;

  constructor(
    private readonly tokens: Tokenizer,
    private readonly file: string,
  ) {}

  document(): TextMessage {
    const first = this.tokens.peek();
    const fields = this.fields(undefined);
    return { kind: 'message', fields, line: first.line, column: first.column };
  }

  private fail(message: string, at: TextPosition): never {
    throw new FormatError(this.file, where(at), message);
  }

  private describe(token: Token): string {
    switch (token.kind) {
      case 'end':
        return 'end of file';
      case 'string':
        return `string ${JSON.stringify(token.value)}`;
      default:
        return `'${token.text}'`;
    }
  }

  private isPunct(token: Token, text: string): boolean {
    return token.kind === 'punct' && token.text === text;
  }

  /** Fields until `close` ('}' or '>') or, at top level, the end of the file. */
  private fields(close: string | undefined): TextField[] {
    const fields: TextField[] = [];
    while (true) {
      const token = this.tokens.peek();
      if (close === undefined ? token.kind === 'end' : this.isPunct(token, close)) return fields;
      if (token.kind !== 'identifier') {
        const expected = close === undefined ? 'a field name' : `a field name or '${close}'`;
        this.fail(`expected ${expected}, found ${this.describe(token)}`, token);
      }
      this.tokens.next();
      fields.push({ name: token.text, line: token.line, column: token.column, value: this.fieldValue(token) });
      const separator = this.tokens.peek();
      if (this.isPunct(separator, ',') || this.isPunct(separator, ';')) this.tokens.next();
    }
  }

  private fieldValue(name: Token & { kind: 'identifier' }): TextValue {
    let token = this.tokens.peek();
    const colon = this.isPunct(token, ':');
    if (colon) {
      this.tokens.next();
      token = this.tokens.peek();
    }
    if (this.isPunct(token, '{') || this.isPunct(token, '<')) return this.message();
    if (!colon) this.fail(`expected ':' or '{' after '${name.text}', found ${this.describe(token)}`, token);
    if (this.isPunct(token, '[')) return this.list();
    return this.scalar();
  }

  private message(): TextMessage {
    const open = this.tokens.next() as Token & { kind: 'punct' };
    const close = open.text === '{' ? '}' : '>';
    if (++this.depth > MAX_DEPTH) this.fail(`messages nested more than ${MAX_DEPTH} deep`, open);
    const fields = this.fields(close);
    this.depth--;
    const end = this.tokens.peek();
    if (!this.isPunct(end, close)) this.fail(`expected '${close}' to close the '${open.text}' at ${where(open)}`, end);
    this.tokens.next();
    return { kind: 'message', fields, line: open.line, column: open.column };
  }

  private list(): TextValue {
    const open = this.tokens.next();
    const items: TextValue[] = [];
    if (this.isPunct(this.tokens.peek(), ']')) {
      this.tokens.next();
      return { kind: 'list', items, line: open.line, column: open.column };
    }
    while (true) {
      const at = this.tokens.peek();
      items.push(this.isPunct(at, '{') || this.isPunct(at, '<') ? this.message() : this.scalar());
      const next = this.tokens.next();
      if (this.isPunct(next, ']')) break;
      if (!this.isPunct(next, ',')) this.fail(`expected ',' or ']' in a list, found ${this.describe(next)}`, next);
    }
    return { kind: 'list', items, line: open.line, column: open.column };
  }

  private scalar(): TextValue {
    const token = this.tokens.next();
    if (token.kind === 'string') {
      let value = token.value;
      while (this.tokens.peek().kind === 'string') value += (this.tokens.next() as Token & { kind: 'string' }).value;
      return { kind: 'string', value, line: token.line, column: token.column };
    }
    let negative = false;
    let body: Token = token;
    if (this.isPunct(token, '-')) {
      negative = true;
      body = this.tokens.next();
    }
    if (body.kind === 'number') {
      const text = (negative ? '-' : '') + body.text;
      return { kind: 'number', text, value: numberValue(text), integer: isIntegerLiteral(body.text), line: token.line, column: token.column };
    }
    if (body.kind === 'identifier') return { kind: 'identifier', text: body.text, negative, line: token.line, column: token.column };
    this.fail(`expected a value, found ${this.describe(body)}`, body);
  }
}

function isIntegerLiteral(text: string): boolean {
  return /^(?:0[xX][0-9a-fA-F]+|\d+)$/.test(text);
}

function numberValue(text: string): number {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  let value: number;
  if (/^0[xX]/.test(body)) value = parseInt(body.slice(2), 16);
  else if (/^0[0-7]+$/.test(body)) value = parseInt(body, 8);
  else value = Number(body.replace(/[fF]$/, ''));
  return negative ? -value : value;
}
