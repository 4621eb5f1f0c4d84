/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's kmigrate configuration, /etc/kmigrate/kmigrate.conf
 * ($KMIGRATE_CONFIG overrides the path): "key = value" lines, '#' starts a
 * comment, blank lines are ignored.  An unknown key, a bad value or a key
 * given twice is an error naming the file and line.  Command-line options
 * override the file.  Keys (dist/kmigrate.conf documents them):
 *
 *   listen_address   address `kmigrate listen` binds ('*': all addresses)
 *   listen_port      its TCP port (default 49152)
 *   via              interface migrations leave on (`start --via`)
 *   source_address   address migrations are sent from
 *   bandwidth        the host's cap on outgoing migration traffic (a RATE),
 *                    shared among the running outgoing migrations
 *   max_outgoing     outgoing migrations at once (default 2)
 *   max_incoming     incoming migrations at once (default 2)
 *   incoming_policy  refuse (default) or queue: what the listener does with
 *                    a migration beyond max_incoming
 *   downtime_limit   default --downtime-limit in ms
 *   tls_dir          the TLS credentials' directory (ca.pem, cert.pem,
 *                    key.pem; default /etc/kmigrate/tls), absolute
 *   insecure         yes|no (also true/false, 1/0): authenticated plaintext
 *                    (`start --insecure`, `listen --insecure`)
 */
#ifndef KM_CONFIG_H
#define KM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_CONF_DEFAULT_PATH	"/etc/kmigrate/kmigrate.conf"
#define KM_CONF_DEFAULT_MAX	2
#define KM_CONF_MAX_LIMIT	64

enum km_conf_policy {
	KM_CONF_REFUSE,
	KM_CONF_QUEUE,
};

struct km_conf {
	char path[256];			/* the file read ("" if none) */
	char listen_address[256];	/* "" if not set */
	uint32_t listen_port;		/* 0 if not set */
	char via[16];			/* IFNAMSIZ; "" if not set */
	char source_address[64];	/* "" if not set */
	uint64_t bandwidth;		/* bytes/s, 0: none */
	uint32_t max_outgoing;
	uint32_t max_incoming;
	enum km_conf_policy incoming_policy;
	uint32_t downtime_limit;	/* ms; 0 if not set */
	char tls_dir[4096];		/* "" if not set */
	bool insecure;			/* false if not set */
};

/* The defaults: nothing set, limits of 2, refuse. */
void km_conf_defaults(struct km_conf *c);
/*
 * Parses @text (the contents of @path, for messages) into @c, which holds
 * the defaults or earlier values.  Returns 0, or -EINVAL with @err saying
 * "PATH:LINE: why".
 */
int km_conf_parse(struct km_conf *c, const char *path, const char *text, char *err,
		  size_t errlen);
/*
 * Loads the defaults, then the file: $KMIGRATE_CONFIG if set (it must
 * exist), else KM_CONF_DEFAULT_PATH (a missing one is no error).  Returns
 * 0 or -errno with @err set.
 */
int km_conf_load(struct km_conf *c, char *err, size_t errlen);

#endif /* KM_CONFIG_H */
