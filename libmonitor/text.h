/* text.h (private to libmonitor): safe handling of untrusted text: walking UTF-8,
 * rendering values for error messages, and filling struct mon_error. */
#ifndef MON_TEXT_H
#define MON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mon_event.h"

/* Length of the well-formed UTF-8 sequence at s (at most avail bytes), storing its code
 * point; 0 when the bytes there are not well-formed UTF-8. */
size_t mon_utf8_next(const char *s, size_t avail, uint32_t *cp);

/* True for C0 and C1 control characters and DEL. */
bool mon_is_control(uint32_t cp);

/* True when s is well-formed UTF-8 without NUL or control characters. */
bool mon_text_is_clean(const char *s, size_t len);

/* True when s (len bytes) is 1..max ASCII letters, digits or characters of punct: the shape
 * of ids and codes (department, item, case, violation ...). */
bool mon_text_is_token(const char *s, size_t len, size_t max, const char *punct);

/* Copies at most cap - 1 bytes of s into out, cutting only between UTF-8 sequences.
 * Returns false when it had to cut. */
bool mon_text_copy_utf8(const char *s, size_t len, char *out, size_t cap);

/* Writes n bytes of untrusted text into out (NUL-terminated, at most cap bytes): control
 * characters and bytes that are not UTF-8 become \xNN, and text that does not fit (or
 * that the caller already cut: cut = true) ends in "...". */
void mon_text_escape(const char *s, size_t n, bool cut, char *out, size_t cap);

/* Fills *err. `got` is rendered compactly as JSON, or "(missing)" when NULL. */
void mon_error_set(struct mon_error *err, const char *field, const char *expected,
		const json_t *got);

/* Fills *err with free text (such as a parser message) as `got`. */
void mon_error_set_text(struct mon_error *err, const char *field, const char *expected,
		const char *got);

void mon_error_clear(struct mon_error *err);

#endif
