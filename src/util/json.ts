/** A value JSON.parse can return and JSON.stringify writes back unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
