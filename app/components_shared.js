// Shared by the components' scripts (prepended by app/live_canvas.py and app/embed_map.py): base64 → arrays.
function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
const b64floats = (s) => new Float32Array(b64bytes(s).buffer);
