/** Client addresses and CIDR lists (IPv4, IPv6, IPv4-mapped IPv6) with ipaddr.js; the address is CF-Connecting-IP only. */
import ipaddr from 'ipaddr.js';

export type ClientAddress = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * The client address from CF-Connecting-IP, strictly: four-part decimal IPv4 or IPv6 without a zone, IPv4-mapped IPv6
 * turned into IPv4 (so "::ffff:203.0.113.7" meets "203.0.113.0/24"). Anything else is undefined: no guessing at
 * "0x7f.1" or "127.1", which some parsers read as loopback.
 */
export function parseClientAddress(value: string | null | undefined): ClientAddress | undefined {
  const s = value?.trim();
  if (!s || s.length > 64 || s.includes('%')) return undefined;
  if (s.includes(':')) {
    if (!ipaddr.IPv6.isValid(s)) return undefined;
    const v6 = ipaddr.IPv6.parse(s);
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
  }
  return ipaddr.IPv4.isValidFourPartDecimal(s) ? ipaddr.IPv4.parse(s) : undefined;
}

/** A schema-valid CIDR list compiled once; IPv4-mapped IPv6 ranges (::ffff:a.b.c.d/96+) become IPv4 ranges. */
export function compileCidrs(cidrs: readonly string[]): (addr: ClientAddress) => boolean {
  const v4: [ipaddr.IPv4, number][] = [];
  const v6: [ipaddr.IPv6, number][] = [];
  for (const c of cidrs) {
    const [addr, bits] = ipaddr.parseCIDR(c);
    if (addr.kind() === 'ipv4') v4.push([addr as ipaddr.IPv4, bits]);
    else {
      const a = addr as ipaddr.IPv6;
      if (a.isIPv4MappedAddress() && bits >= 96) v4.push([a.toIPv4Address(), bits - 96]);
      else v6.push([a, bits]);
    }
  }
  return (addr) => {
    if (addr.kind() === 'ipv4') {
      for (const r of v4) if ((addr as ipaddr.IPv4).match(r)) return true;
      return false;
    }
    for (const r of v6) if ((addr as ipaddr.IPv6).match(r)) return true;
    return false;
  };
}
