# Sample coding of data frames (pure; MicroPython and CPython); see docs/protocol.md 3.1.
#
# A frame's samples: the first as a zig-zag LEB128 varint, then blocks of up to 8 as an
# MSB-first bit stream, each block <1 bit order><5 bits width w> + w-bit zig-zag
# residuals (order 0: first difference, order 1: second difference).
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

BLOCK_SAMPLES = const(8)  # residuals per bit-packed block
_BLOCK_HEADER_BITS = const(6)  # <1 bit predictor order><5 bits width>


class WireError(FirmwareError):
    """Malformed bytes or an impossible request; ``reason`` names the problem."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail


@micropython.native
def pack_samples(samples, start, stop, budget_bits, out):
    # Appends the zig-zag varint of samples[start], then the following samples in blocks
    # of up to 8, MSB first: <1 bit order><5 bits width w> + one w-bit zig-zag residual
    # per sample (order 0: d = x[i] - x[i-1]; order 1: d - previous d, previous d = 0
    # at the frame start). Each block takes the order with the smaller width (order 0
    # on a tie). Returns how many samples fit in budget_bits (padding included).
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
    z1s = [0] * 8
    z2s = [0] * 8
    acc = 0
    nacc = 0
    used = 0
    prev = v
    dprev = 0
    i = start + 1
    while i < stop:
        n = stop - i
        if n > 8:
            n = 8
        m1 = 0
        m2 = 0
        for j in range(n):
            x = samples[i + j]
            d = x - prev
            prev = x
            r = d - dprev
            dprev = d
            z = (d << 1) ^ (d >> 31)
            z1s[j] = z
            m1 |= z
            z = (r << 1) ^ (r >> 31)
            z2s[j] = z
            m2 |= z
        w = 0
        while m1 >> w:
            w += 1
        w2 = 0
        while m2 >> w2:
            w2 += 1
        order = 0
        if w2 < w:
            w = w2
            order = 1
        if used + 6 + n * w > budget_bits:
            # the full block does not fit: keep the longest prefix that does (its cost
            # grows with its length, so stop at the first prefix that is too long)
            m1 = 0
            m2 = 0
            w1 = 0
            w2 = 0
            best = 0
            for j in range(n):
                m1 |= z1s[j]
                m2 |= z2s[j]
                while m1 >> w1:
                    w1 += 1
                while m2 >> w2:
                    w2 += 1
                w = w2 if w2 < w1 else w1
                if used + 6 + (j + 1) * w > budget_bits:
                    break
                best = j + 1
            n = best
            stop = i + n  # ends the loop after this block
            if n == 0:
                break
            m1 = 0
            m2 = 0
            for j in range(n):
                m1 |= z1s[j]
                m2 |= z2s[j]
            w = 0
            while m1 >> w:
                w += 1
            w2 = 0
            while m2 >> w2:
                w2 += 1
            order = 0
            if w2 < w:
                w = w2
                order = 1
        used += 6 + n * w
        acc = (acc << 6) | (order << 5) | w
        nacc += 6
        zs = z2s if order else z1s
        for j in range(n):
            acc = (acc << w) | zs[j]
            nacc += w
            while nacc >= 8:
                nacc -= 8
                out.append((acc >> nacc) & 0xFF)
            acc &= (1 << nacc) - 1
        i += n
    if nacc:
        out.append((acc << (8 - nacc)) & 0xFF)
    return i - start


def unpack_samples(data, pos, count):
    """Decode ``count`` samples coded from byte ``pos`` to the end of ``data``."""
    z = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise WireError("truncated", "first sample")
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    v = (z >> 1) ^ -(z & 1)
    out = [v]
    nbits = (len(data) - pos) * 8
    bit = 0
    remaining = count - 1
    dprev = 0
    while remaining:
        n = remaining if remaining < BLOCK_SAMPLES else BLOCK_SAMPLES
        if bit + _BLOCK_HEADER_BITS > nbits:
            raise WireError("truncated", "block header")
        head = _read_bits(data, pos, bit, _BLOCK_HEADER_BITS)
        bit += _BLOCK_HEADER_BITS
        w = head & 0x1F
        order = head >> 5
        if bit + n * w > nbits:
            raise WireError("truncated", "block")
        for _ in range(n):
            z = _read_bits(data, pos, bit, w) if w else 0
            bit += w
            d = (z >> 1) ^ -(z & 1)
            if order:
                d += dprev
            dprev = d
            v += d
            out.append(v)
        remaining -= n
    if (nbits - bit) >= 8:
        raise WireError("trailing_bytes")
    return out


def _read_bits(data, pos, bit, w):
    # MSB-first read of w bits starting at bit offset `bit` after byte `pos`
    start = pos + (bit >> 3)
    end = pos + ((bit + w + 7) >> 3)
    acc = 0
    for k in range(start, end):
        acc = (acc << 8) | data[k]
    return (acc >> ((end - pos) * 8 - bit - w)) & ((1 << w) - 1)
