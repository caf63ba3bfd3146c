# Sample coding of data frames, protocol v2 (pure; MicroPython and CPython); see
# docs/protocol.md 3.2.
#
# A frame's samples: the first as a zig-zag LEB128 varint (at most 3 bytes); then, when
# the frame holds two or more samples, one MSB-first bit stream: <4 bits k0> and one
# adaptive Rice code per further sample. The coded value is the zig-zag of the second
# difference r = d - d_prev (d = x[i] - x[i-1]; d_prev = 0 for the frame's second sample).
# Rice code with parameter k: q = z >> k zero bits, a one bit, then the k low bits of z;
# when q >= ESCAPE_Q: ESCAPE_Q zero bits and z in ESCAPE_BITS bits (no one bit). The
# parameter follows a running sum A (A = 4 << k0 at the frame start; after each sample
# A += z - (A >> 2)); k = bit length of (A >> 3). No block headers.
# Used through firmware.wire (encode_frame / decode_frame); WireError is re-exported there.

try:
    from micropython import const
    import micropython
except ImportError:  # CPython
    const = lambda x: x  # noqa: E731

    class _NoEmitter:
        @staticmethod
        def native(f):
            return f

    micropython = _NoEmitter()


from firmware.errors import FirmwareError

ESCAPE_Q = const(14)  # quotient at which a value is sent raw instead
ESCAPE_BITS = const(18)  # raw width: the zig-zag of a second difference of int16 is < 2**18
K0_BITS = const(4)  # bits of the initial Rice parameter
MAX_K0 = const(15)
SAMPLE_MIN = const(-32768)
SAMPLE_MAX = const(32767)
MAX_VARINT_BYTES = const(3)


class WireError(FirmwareError):
    """Malformed bytes or an impossible request; ``reason`` names the problem."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail


@micropython.native
def pack_samples(samples, start, stop, budget_bits, out):
    # Appends the coded samples[start:stop] (as many as fit in budget_bits, padding
    # included) to the bytearray out; returns how many were coded (0 if not even one).
    v = samples[start]
    z = (v << 1) ^ (v >> 31)
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
        budget_bits -= 8
    out.append(z)
    budget_bits -= 8
    if budget_bits < 0:
        return 0
    if stop - start < 2 or budget_bits < K0_BITS + 1:
        return 1
    # k0 from the first (up to) four values: the k the running sum would settle on
    lim = start + 5
    if lim > stop:
        lim = stop
    prev = v
    dprev = 0
    s = 0
    j = start + 1
    while j < lim:
        x = samples[j]
        d = x - prev
        r = d - dprev
        s += (r << 1) ^ (r >> 31)
        prev = x
        dprev = d
        j += 1
    s >>= 3
    k0 = 0
    while s:
        k0 += 1
        s >>= 1
    if k0 > MAX_K0:
        k0 = MAX_K0
    acc = k0
    nacc = K0_BITS
    used = K0_BITS
    a = 4 << k0
    prev = v
    dprev = 0
    i = start + 1
    while i < stop:
        x = samples[i]
        d = x - prev
        r = d - dprev
        z = (r << 1) ^ (r >> 31)
        k = 0
        t = a >> 3
        while t:
            k += 1
            t >>= 1
        q = z >> k
        if q < ESCAPE_Q:
            cost = q + 1 + k
        else:
            cost = ESCAPE_Q + ESCAPE_BITS
        if used + cost > budget_bits:
            break
        used += cost
        if q < ESCAPE_Q:
            acc = (acc << (q + 1)) | 1
            nacc += q + 1
            while nacc >= 8:
                nacc -= 8
                out.append((acc >> nacc) & 0xFF)
            acc = (acc << k) | (z & ((1 << k) - 1))
            nacc += k
        else:
            acc <<= ESCAPE_Q
            nacc += ESCAPE_Q
            while nacc >= 8:
                nacc -= 8
                out.append((acc >> nacc) & 0xFF)
            acc = (acc << ESCAPE_BITS) | z
            nacc += ESCAPE_BITS
        while nacc >= 8:
            nacc -= 8
            out.append((acc >> nacc) & 0xFF)
        acc &= (1 << nacc) - 1
        a += z - (a >> 2)
        prev = x
        dprev = d
        i += 1
    if i == start + 1:
        return 1  # nothing after the first sample fitted: no bit stream (k0 not flushed yet)
    if nacc:
        out.append((acc << (8 - nacc)) & 0xFF)
    return i - start


def unpack_samples(data, pos, count):
    """Decode ``count`` samples coded from byte ``pos`` to the end of ``data``."""
    z = 0
    shift = 0
    nbytes = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated", "first sample")
        if nbytes == MAX_VARINT_BYTES:
            raise WireError("bad_varint")
        b = data[pos]
        pos += 1
        nbytes += 1
        z |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    if z > 0xFFFF:
        raise WireError("sample_range", "first sample")
    v = (z >> 1) ^ -(z & 1)
    out = [v]
    nbits = (len(data) - pos) * 8
    if count < 2:
        if nbits:
            raise WireError("trailing_bytes")
        return out
    if nbits < K0_BITS:
        raise WireError("truncated", "k0")
    a = 4 << _read_bits(data, pos, 0, K0_BITS)
    bit = K0_BITS
    dprev = 0
    for _ in range(count - 1):
        k = 0
        t = a >> 3
        while t:
            k += 1
            t >>= 1
        q = 0
        while True:
            if bit >= nbits:
                raise WireError("truncated", "code")
            if (data[pos + (bit >> 3)] >> (7 - (bit & 7))) & 1:
                bit += 1
                break
            bit += 1
            q += 1
            if q == ESCAPE_Q:
                break
        w = ESCAPE_BITS if q == ESCAPE_Q else k
        if bit + w > nbits:
            raise WireError("truncated", "code")
        low = _read_bits(data, pos, bit, w) if w else 0
        bit += w
        z = low if q == ESCAPE_Q else (q << k) | low
        d = ((z >> 1) ^ -(z & 1)) + dprev
        v += d
        if v < SAMPLE_MIN or v > SAMPLE_MAX:
            raise WireError("sample_range")
        out.append(v)
        dprev = d
        a += z - (a >> 2)
    if nbits - bit >= 8:
        raise WireError("trailing_bytes")
    if _read_bits(data, pos, bit, nbits - bit):
        raise WireError("bad_padding")
    return out


def _read_bits(data, pos, bit, w):
    # MSB-first read of w bits starting at bit offset `bit` after byte `pos`
    if not w:
        return 0
    start = pos + (bit >> 3)
    end = pos + ((bit + w + 7) >> 3)
    acc = 0
    for k in range(start, end):
        acc = (acc << 8) | data[k]
    return (acc >> ((end - pos) * 8 - bit - w)) & ((1 << w) - 1)
