/**
 * Rules text for a tool's stdin, in chunks: both backends stream inputs of hundreds of thousands
 * of lines (10k Services × 10) instead of joining them into one string.
 *
 * @module
 */

/** Characters per stdin write, about. */
export const LINE_CHUNK_SIZE = 64 * 1024;

/**
 * `lines` (without newlines) joined into newline-terminated chunks of about `size` characters;
 * a line is never split. Reads `lines` once, as the chunks are asked for.
 */
export function* lineChunks(
  lines: Iterable<string>,
  size = LINE_CHUNK_SIZE,
): Generator<string> {
  let chunk: string[] = [];
  let length = 0;
  for (const line of lines) {
    chunk.push(line);
    length += line.length + 1;
    if (length >= size) {
      yield chunk.join("\n") + "\n";
      chunk = [];
      length = 0;
    }
  }
  if (chunk.length > 0) yield chunk.join("\n") + "\n";
}
