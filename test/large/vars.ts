// The variables of the `large` vitest project (vitest.config.ts): the
// largest frames the configuration allows, to show what they cost.
export const LARGE = {
  MAX_MESSAGE_BYTES: String(2 << 20),
  MAX_TEXT_CHARS: String(2 << 20),
  RATE_LIMIT_PER_SECOND: "1000",
  RATE_LIMIT_BURST: "1000",
};
