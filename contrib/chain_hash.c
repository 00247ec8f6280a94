/* chain_hash.c: the canonical encoding and hash of an event-chain link (chain_hash.h). */
#include "chain_hash.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

static const char chain_version[] = "esup-chain-v1";

/* Appends n bytes at *pos when they fit; *pos always advances (the full length). */
static void
put(unsigned char *buf, size_t cap, size_t *pos, const void *p, size_t n)
{
	if (*pos < cap && n > 0)
		memcpy(buf + *pos, p, n <= cap - *pos ? n : cap - *pos);
	*pos += n;
}

/* "<byte length>:<bytes>," or "~," for NULL. */
static void
put_field(unsigned char *buf, size_t cap, size_t *pos, const char *v)
{
	char len[24];
	int n;

	if (v == NULL) {
		put(buf, cap, pos, "~,", 2);
		return;
	}
	n = snprintf(len, sizeof(len), "%zu:", strlen(v));
	put(buf, cap, pos, len, (size_t)n);
	put(buf, cap, pos, v, strlen(v));
	put(buf, cap, pos, ",", 1);
}

size_t
chain_encode(const char *const fields[CHAIN_FIELDS], unsigned char *buf, size_t cap)
{
	size_t pos = 0;

	put(buf, cap, &pos, chain_version, sizeof(chain_version) - 1);
	for (int i = 0; i < CHAIN_FIELDS; i++)
		put_field(buf, cap, &pos, fields[i]);
	return pos;
}

static bool
unhex(const char *hex, unsigned char out[CHAIN_HASH_LEN])
{
	static const char digits[] = "0123456789abcdef";

	if (strlen(hex) != CHAIN_HEX_LEN)
		return false;
	for (size_t i = 0; i < CHAIN_HASH_LEN; i++) {
		const char *hi = strchr(digits, hex[2 * i]), *lo = strchr(digits, hex[2 * i + 1]);

		if (hex[2 * i] == '\0' || hex[2 * i + 1] == '\0' || hi == NULL || lo == NULL)
			return false;
		out[i] = (unsigned char)((hi - digits) << 4 | (lo - digits));
	}
	return true;
}

bool
chain_hash_hex(const char *prev_hex, const char *const fields[CHAIN_FIELDS],
	char out[CHAIN_HEX_LEN + 1])
{
	unsigned char prev[CHAIN_HASH_LEN], md[EVP_MAX_MD_SIZE], *buf;
	unsigned int mdlen = 0;
	size_t len = chain_encode(fields, NULL, 0);
	bool ok;

	if (!unhex(prev_hex, prev) || (buf = OPENSSL_malloc(CHAIN_HASH_LEN + len + 1)) == NULL)
		return false;
	memcpy(buf, prev, CHAIN_HASH_LEN);
	chain_encode(fields, buf + CHAIN_HASH_LEN, len);
	ok = EVP_Digest(buf, CHAIN_HASH_LEN + len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
		mdlen == CHAIN_HASH_LEN;
	OPENSSL_free(buf);
	for (unsigned int i = 0; ok && i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return ok;
}
