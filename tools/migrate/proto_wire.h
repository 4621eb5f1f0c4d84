/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What proto.c, proto_enc.c and proto_dec.c share and nothing else uses:
 * little-endian fields, and the checks of record fields that both the
 * encoder and the decoder apply (each explains a failure into @why, @len
 * bytes, and returns an enum kmp_err).
 */
#ifndef KM_PROTO_WIRE_H
#define KM_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define KMP_MAX_GPA_BITS	52	/* x86-64 MAXPHYADDR at most */

/* ------------------------------------------------------ little endian -- */

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static inline uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static inline uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static inline uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Formats into @why (if any) and returns @code. */
int kmp_fail(char *why, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records covered by the digest: the source's, before END. */
bool kmp_type_digested(uint32_t type);
/* HELLO's required features decide what follows it. */
void kmp_order_after_hello(struct kmp_order *o, uint64_t required);

size_t kmp_hello_size(const struct kmp_hello *h);
size_t kmp_profile_size(const struct kmp_profile *pr);
/* The header fields that depend on the type alone. */
int kmp_hdr_check(uint32_t type, uint32_t flags, uint32_t length, uint32_t count,
		  char *why, size_t len);
int kmp_round_check(const struct kmp_order *o, const struct kmp_round *r, char *why, size_t len);
int kmp_gfns_check(const struct kmp_hello *h, const uint64_t *gfns, uint32_t n,
		   char *why, size_t len);
int kmp_ranges_check(const struct kmp_hello *h, const struct kmp_range *r, uint32_t n,
		     char *why, size_t len);
/* PROFILE's mem_populated against HELLO. */
int kmp_populated_check(const struct kmp_hello *h, uint64_t pop, char *why, size_t len);
/* An ERROR/ABORT message of @n bytes. */
int kmp_msg_check(const char *msg, size_t n, char *why, size_t len);
/* RESUMED's rules beyond its length. */
int kmp_resumed_check(const struct kmp_resumed *r, char *why, size_t len);

#endif /* KM_PROTO_WIRE_H */
