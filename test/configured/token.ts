// Tokens for the `configured` project, minted here with WebCrypto from the
// format README documents, not with the server's Rust code: if the two ever
// disagree, these tests fail.
import { CONFIGURED } from "./vars";

export interface Claims {
  sub: string;
  name: string;
  room?: string;
  exp: number;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** `base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part))`. */
export async function mint(
  claims: Claims,
  secret: string = CONFIGURED.AUTH_SECRET,
): Promise<string> {
  const encoder = new TextEncoder();
  const payload = base64url(encoder.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, encoder.encode(payload));
  return `${payload}.${base64url(new Uint8Array(signature))}`;
}

/** Claims valid for an hour. */
export function claims(name: string, room?: string): Claims {
  return { sub: `user-${name}`, name, room, exp: Math.floor(Date.now() / 1000) + 3600 };
}
