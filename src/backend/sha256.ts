/**
 * SHA-256 (FIPS 180-4) of short strings, for chain and set names: upstream names per-service
 * and per-endpoint objects after the hash of their identity.
 *
 * Pure and synchronous (rendering must not await, and Web Crypto's digest is async-only), and
 * written here rather than taken from `node:crypto`: importing any `node:` module loads Deno's
 * Node compatibility layer, several MiB of resident memory for the daemon's whole life, which an
 * edge node pays for a few thousand hashes per sync.
 *
 * @module
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

// Reused between calls: this runs for every new chain name, and allocation dominated its cost.
let message = new Int32Array(32);
const schedule = new Int32Array(64);
const digest = new Uint8Array(32);

/**
 * SHA-256 of `input`'s UTF-8 bytes. The returned array is reused by the next call: read it (or
 * copy it) before hashing again.
 */
export function sha256(input: string): Uint8Array {
  const bytes = utf8(input);
  const length = bytes.length;
  const blocks = Math.ceil((length + 9) / 64);
  // Message words, big-endian, with the 0x80 terminator and the 64-bit bit length.
  if (message.length < blocks * 16) message = new Int32Array(blocks * 16);
  const m = message;
  m.fill(0, 0, blocks * 16);
  for (let i = 0; i < length; i++) m[i >> 2]! |= (bytes[i] ?? 0) << (24 - 8 * (i & 3));
  m[length >> 2]! |= 0x80 << (24 - 8 * (length & 3));
  m[blocks * 16 - 2] = Math.floor(length / 2 ** 29);
  m[blocks * 16 - 1] = length * 8;

  let h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a;
  let h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
  const w = schedule;
  for (let block = 0; block < blocks; block++) {
    for (let t = 0; t < 16; t++) w[t] = m[block * 16 + t] ?? 0;
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15] ?? 0;
      const y = w[t - 2] ?? 0;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = ((w[t - 16] ?? 0) + s0 + (w[t - 7] ?? 0) + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + (K[t] ?? 0) + (w[t] ?? 0)) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + S0 + maj) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  const words = [h0, h1, h2, h3, h4, h5, h6, h7];
  for (let i = 0; i < 8; i++) {
    const v = words[i] ?? 0;
    digest[i * 4] = v >>> 24;
    digest[i * 4 + 1] = v >>> 16;
    digest[i * 4 + 2] = v >>> 8;
    digest[i * 4 + 3] = v;
  }
  return digest;
}

let ascii = new Uint8Array(64);
const encoder = new TextEncoder();

function utf8(s: string): Uint8Array {
  // Kubernetes names are ASCII; skip TextEncoder's allocation for them.
  if (ascii.length < s.length) ascii = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return encoder.encode(s);
    ascii[i] = c;
  }
  return ascii.subarray(0, s.length);
}
