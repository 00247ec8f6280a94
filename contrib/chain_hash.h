/* chain_hash.h: the canonical encoding and hash of one link of the event chain (migration
 * 012_event_chain.sql documents it; the trigger there computes the same in SQL). Pure: no
 * I/O, no globals. */
#ifndef ESUP_CHAIN_HASH_H
#define ESUP_CHAIN_HASH_H

#include <stdbool.h>
#include <stddef.h>

#define CHAIN_HASH_LEN 32
#define CHAIN_HEX_LEN (2 * CHAIN_HASH_LEN)

/* The hashed fields, in this order; NULL for an SQL NULL. Times are microseconds since the
 * epoch in decimal, the body is jsonb's text form. */
enum chain_field {
	CHAIN_SEQ, CHAIN_DEPT, CHAIN_EVENT_ID, CHAIN_RECEIVED_AT, CHAIN_TYPE, CHAIN_AT,
	CHAIN_CASE_NO, CHAIN_ITEM, CHAIN_PRINCIPAL, CHAIN_BODY, CHAIN_FIELDS
};

/* Writes into out (CHAIN_HEX_LEN + 1 bytes) the lower-case hex sha256 over the previous
 * link's hash (prev_hex: CHAIN_HEX_LEN hex digits) and the fields' canonical encoding.
 * False when prev_hex is not 64 hex digits or hashing failed. */
bool chain_hash_hex(const char *prev_hex, const char *const fields[CHAIN_FIELDS],
	char out[CHAIN_HEX_LEN + 1]) __attribute__((warn_unused_result));

/* The canonical encoding alone (for tests): writes up to cap bytes into buf and returns the
 * full length, like snprintf without the terminator; fields as above. */
size_t chain_encode(const char *const fields[CHAIN_FIELDS], unsigned char *buf, size_t cap);

#endif
