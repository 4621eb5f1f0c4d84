/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The migration channel's security (docs/PROTOCOL.md, Security): a TLS 1.3
 * handshake with GnuTLS, mutual X.509 authentication against the cluster
 * CA, then the record layer handed to kernel TLS (the kernel's `tls`
 * module, TCP_ULP "tls", TLS_TX and TLS_RX) so the rest of the program, and
 * kmigrate.ko's data path, keep using the plain socket: send(), writev(),
 * recv() and the module's in-kernel sends are encrypted by the kernel.
 *
 *   source (client)                     destination (server)
 *   ClientHello ...  ---------------->  handshake, client cert REQUIRED
 *   <------- ServerHello ... Finished
 *   verify the server's certificate     verify the client's certificate
 *   Certificate, CertificateVerify,
 *   Finished -------------------------> (refused: fatal alert, close)
 *   <------------ one application byte KM_TLS_CONFIRM (the peer is accepted)
 *   both: kTLS TX+RX from the current keys and sequence numbers, the GnuTLS
 *   session dropped without close_notify; then HELLO ...
 *
 * No session tickets (GNUTLS_NO_TICKETS both ends) and no key updates: after
 * the confirmation byte no TLS record other than application data flows,
 * which is all kTLS's receive side takes.  Credentials: a directory with
 * ca.pem (the cluster CA), cert.pem (this host's certificate signed by the
 * CA) and key.pem (its key); default $KMIGRATE_TLS_DIR, else
 * /etc/kmigrate/tls.
 */
#ifndef KM_TLS_H
#define KM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>

#define KM_TLS_DEFAULT_DIR	"/etc/kmigrate/tls"
#define KM_TLS_HANDSHAKE_MS	10000
/* what the result and the logs call the channel */
#define KM_TLS_DESC		"TLS1.3 AES-128-GCM kTLS"

struct km_tls;

/* @dir, or $KMIGRATE_TLS_DIR when @dir is NULL or "", or the default. */
const char *km_tls_dir(const char *dir);

/* Loads DIR/ca.pem, DIR/cert.pem, DIR/key.pem (checks the key matches the
 * certificate).  Returns 0, or -errno / -EINVAL with @err saying which file
 * and why. */
int km_tls_load(const char *dir, struct km_tls **out, char *err, size_t errlen);
void km_tls_free(struct km_tls *t);

/*
 * Runs the handshake on connected TCP socket @fd (blocking or not: it is
 * blocking for the handshake and restored after), as the destination when
 * @server, verifies the peer's certificate, and installs kTLS for both
 * directions.  @peer_subject gets the peer certificate's subject DN.
 * Returns 0; on failure -1 with @err giving the reason (the connection is
 * then unusable; nothing of the migration has been sent or read).
 */
int km_tls_handshake(struct km_tls *t, int fd, bool server, int timeout_ms,
		     char *peer_subject, size_t slen, char *err, size_t errlen);

/*
 * The migrate request's "insecure" (boolean) and "tls_dir" (string) of
 * `kmigrate start` (vmhost.c): absent means TLS with the default directory.
 * Returns 0 or -1 with @err set.
 */
struct json_object;
int km_tls_req_parse(struct json_object *req, bool *insecure, char *dir, size_t dlen,
		     char *err, size_t errlen);

/*
 * The commands' side (`kmigrate start` and `kmigrate listen`): --tls-dir DIR
 * and --insecure (also KMIGRATE_INSECURE=1 in the environment).
 */
enum { KM_TLS_OPT_DIR = 0x1001, KM_TLS_OPT_INSECURE };
#define KM_TLS_LONGOPTS \
	{ "tls-dir", required_argument, NULL, KM_TLS_OPT_DIR }, \
	{ "insecure", no_argument, NULL, KM_TLS_OPT_INSECURE }
#define KM_TLS_USAGE \
	"      --tls-dir DIR           TLS 1.3 credentials: DIR/ca.pem (the cluster\n" \
	"                              CA), DIR/cert.pem and DIR/key.pem (this host);\n" \
	"                              default $KMIGRATE_TLS_DIR or /etc/kmigrate/tls\n" \
	"      --insecure              plaintext channel, no authentication (also\n" \
	"                              KMIGRATE_INSECURE=1); without it and without\n" \
	"                              credentials: exit status 2\n"

struct km_tls_cli {
	bool insecure;
	char dir[4096];		/* absolute: the VM's process has another cwd */
	struct km_tls *creds;	/* loaded by km_tls_cli_check */
};

void km_tls_cli_opt(struct km_tls_cli *c, int opt, const char *arg);
/* After the options: KMIGRATE_INSECURE, then the credentials loaded (and
 * kept in @c->creds).  Returns 0, or -1 after one line on stderr (the
 * caller exits with KM_EXIT_USAGE). */
int km_tls_cli_check(struct km_tls_cli *c, const char *cmd);
/* "insecure" and "tls_dir" into the migrate request */
void km_tls_cli_req(const struct km_tls_cli *c, struct json_object *req);
/* The listener's child, on accepted @fd from @peer: handshake as the
 * destination.  One line on stderr either way ("refused PEER: why");
 * returns 0 (or at once with --insecure) or -1: refused. */
int km_tls_cli_accept(struct km_tls_cli *c, int fd, const char *peer);
/* what a refused connection's child writes to `listen --once`: the
 * listener keeps waiting for the migration */
#define KM_TLS_REFUSED	0xfe

#endif /* KM_TLS_H */
