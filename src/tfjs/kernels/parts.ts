/** How the heap tasks (heap-tasks.ts) split their work into parts. */

/** [first, end) of `count` items for `part` of `parts`, in whole `align`s where the count allows. */
export function partRange(count: number, part: number, parts: number, align = 1): [number, number] {
  const units = Math.ceil(count / align);
  const first = Math.min(count, Math.floor((units * part) / parts) * align);
  const end = Math.min(count, Math.floor((units * (part + 1)) / parts) * align);
  return [first, end];
}
