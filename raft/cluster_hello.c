/* cluster_hello.c - the transport's connection preamble and address syntax (format in
 * cluster_transport.h). The hello plays the part of raft's own TCP handshake (libraft
 * src/uv_tcp_connect.c: protocol, id, address) so that accept_cb learns the peer's id and
 * address; it travels inside TLS, after both certificates were verified. The parser is bounded
 * (an address is at most CL_ADDRESS_MAX bytes) and never asks for a byte beyond the hello, so
 * the transport can read exactly cl_hello_need() bytes at a time. */
#include "raft/cluster_transport.h"
#include "common/err.h"
#include "common/util.h"

#include <string.h>

static const uint8_t magic[4] = {'M', 'R', 'C', 'L'};

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool printable(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

size_t cl_hello_encode(uint64_t id, const char *address, uint8_t buf[CL_HELLO_MAX])
{
	size_t n = address ? strlen(address) : 0;
	if (id == 0 || n == 0 || n > CL_ADDRESS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!printable((uint8_t)address[i]))
			return 0;
	memcpy(buf, magic, 4);
	put_u32(buf + 4, CL_HELLO_VERSION);
	put_u64(buf + 8, id);
	put_u16(buf + 16, (uint16_t)n);
	memcpy(buf + CL_HELLO_HDR, address, n);
	return CL_HELLO_HDR + n;
}

void cl_hello_init(struct cl_hello *h)
{
	memset(h, 0, sizeof *h);
	h->want = CL_HELLO_HDR;
}

size_t cl_hello_need(const struct cl_hello *h)
{
	return h->want - h->have;
}

/* The fixed header is complete: check it and learn the address length. */
static int header_done(struct cl_hello *h)
{
	if (memcmp(h->buf, magic, 4) != 0 || get_u32(h->buf + 4) != CL_HELLO_VERSION)
		return MR_EPROTO;
	h->id = get_u64(h->buf + 8);
	size_t n = (size_t)h->buf[16] | (size_t)h->buf[17] << 8;
	if (h->id == 0 || n == 0 || n > CL_ADDRESS_MAX)
		return MR_EPROTO;
	h->want = CL_HELLO_HDR + n;
	return 0;
}

int cl_hello_push(struct cl_hello *h, const uint8_t *data, size_t len, size_t *used_r)
{
	size_t used = 0;
	int rv = 0;
	while (used < len && h->have < h->want) {
		uint8_t c = data[used++];
		if (h->have >= CL_HELLO_HDR && !printable(c)) {
			rv = MR_EPROTO;
			break;
		}
		h->buf[h->have++] = c;
		if (h->have == CL_HELLO_HDR && (rv = header_done(h)) != 0)
			break;
	}
	*used_r = used;
	if (rv != 0)
		return rv;
	if (h->want == CL_HELLO_HDR || h->have < h->want)
		return 0;
	size_t n = h->want - CL_HELLO_HDR;
	memcpy(h->address, h->buf + CL_HELLO_HDR, n);
	h->address[n] = '\0';
	return 1;
}

void cl_ack_encode(uint8_t buf[CL_ACK_LEN])
{
	memcpy(buf, magic, 4);
	put_u32(buf + 4, 0);
}

int cl_ack_check(const uint8_t buf[CL_ACK_LEN])
{
	return memcmp(buf, magic, 4) == 0 && get_u32(buf + 4) == 0 ? 0 : MR_EPROTO;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-';
}

int cl_address_parse(const char *address, char url_r[CL_URL_MAX], char host_r[CL_ADDRESS_MAX + 1])
{
	size_t n = address ? strlen(address) : 0;
	if (n < 3 || n > CL_ADDRESS_MAX)
		return MR_EINVAL;
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address)
		return MR_EINVAL;
	const char *h = address, *he = colon;
	bool v6 = address[0] == '[';
	if (v6) {
		if (colon[-1] != ']' || colon - address < 4)
			return MR_EINVAL;
		h++;
		he--;
	}
	for (const char *p = h; p < he; p++)
		if (!(host_char(*p) || (v6 && *p == ':')))
			return MR_EINVAL;
	uint64_t port = 0;
	size_t plen = strlen(colon + 1);
	if (plen == 0 || plen > 5 || mr_parse_u64(colon + 1, plen, 65535, &port) != 0 || port == 0)
		return MR_EINVAL;
	memcpy(host_r, h, (size_t)(he - h));
	host_r[he - h] = '\0';
	snprintf(url_r, CL_URL_MAX, "tls+tcp://%s", address);
	return 0;
}
