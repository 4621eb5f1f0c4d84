/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KMIGRATE_RECORD_STREAM=PREFIX (tests only: tests/fuzz/README.md): the
 * destination writes the stream's bytes as its decoder gets them, after
 * TLS, into PREFIX.<pid> (dest_record.c).
 */
#ifndef KM_DEST_RECORD_H
#define KM_DEST_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* The recording's fd, or -1 (not asked, or it could not be created: said). */
int km_dest_record_open(void);
/* Appends; a failed write ends nothing (a test's recording). */
void km_dest_record(int fd, const uint8_t *buf, size_t len);

#endif /* KM_DEST_RECORD_H */
