/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The per-VM control socket of `kmigrate run`.
 *
 * Every running VM listens on a unix stream socket
 * $KMIGRATE_RUN_DIR/NAME.sock (default /run/kmigrate/vms, created 0700);
 * NAME.lock, held with flock() for the life of the VM, makes the name
 * unique on the host.  Requests and replies are single-line JSON objects
 * ended by '\n':
 *
 *	-> {"cmd":"info"}
 *	<- {"ok":true,"name":"vm1","pid":42,...}
 *	-> {"cmd":"bogus"}
 *	<- {"ok":false,"error":"unknown command 'bogus'"}
 *
 * Commands: info, pause, resume, stop, verify (see run.c for the fields).
 * A client may send several requests on one connection.
 */
#ifndef KM_CTL_H
#define KM_CTL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include <json.h>

#define KM_CTL_DEFAULT_DIR	"/run/kmigrate/vms"
#define KM_CTL_NAME_MAX		64
#define KM_CTL_LINE_MAX		4096	/* longest request line */
#define KM_CTL_MAX_CLIENTS	8

/* The run directory: $KMIGRATE_RUN_DIR or KM_CTL_DEFAULT_DIR. */
const char *km_ctl_run_dir(void);
/* NAME is [A-Za-z0-9._-]{1,64} and not "." or "..". */
bool km_ctl_name_valid(const char *name);
/* "<dir>/<name><suffix>"; -ENAMETOOLONG if it does not fit. */
int km_ctl_path(const char *name, const char *suffix, char *buf, size_t len);

/*
 * For a VM process in the background: stdin and stdout to /dev/null,
 * stderr to $KMIGRATE_RUN_DIR/NAME.log (appended to, or truncated first).
 */
void km_ctl_redirect_log(const char *name, bool append);

/* ------------------------------------------------------------ client -- */

/*
 * Sends @req to VM @name and waits up to @timeout_ms for the reply.
 * Returns 0 with *reply set (the caller puts it), or -errno with a
 * message in @err: -ENOENT when no VM of that name runs.
 * A reply {"ok":false,...} is still returned as 0.
 */
int km_ctl_call(const char *name, struct json_object *req, int timeout_ms,
		struct json_object **reply, char *err, size_t errlen);
/*
 * The control socket (and the run directory) admit the VM's owner and
 * root only: a call by anybody else fails with -EACCES and "NAME:
 * permission denied: ..." in @err.  km_ctl_access() says so without
 * connecting (before a command does anything else: 0 when allowed or when
 * the socket does not exist); km_ctl_exit_code() maps a call's result to
 * the exit status (KM_EXIT_PERM for -EACCES/-EPERM, else KM_EXIT_FAIL).
 */
int km_ctl_access(const char *name, char *err, size_t errlen);
int km_ctl_exit_code(int r);
/* Same with {"cmd":CMD}. */
int km_ctl_cmd(const char *name, const char *cmd, int timeout_ms,
	       struct json_object **reply, char *err, size_t errlen);
/*
 * As km_ctl_call, but a reply {"ok":false,"error":E} is a failure too:
 * -EREMOTEIO with "NAME: E" in @err and no reply.
 */
int km_ctl_call_ok(const char *name, struct json_object *req, int timeout_ms,
		   struct json_object **reply, char *err, size_t errlen);
/* The string member @key of a reply, or NULL. */
const char *km_ctl_str(struct json_object *o, const char *key);

/*
 * Names of the VMs with a socket in the run directory, sorted; the caller
 * frees each and the array.  Returns the count or -errno (0 if the
 * directory does not exist).
 */
int km_ctl_list(char ***names);

/* ------------------------------------------------------------ server -- */

struct km_ctl_client {
	int fd;
	size_t len;
	char buf[KM_CTL_LINE_MAX];
};

struct km_ctl_server {
	int lock_fd;
	int listen_fd;
	char sock_path[256];
	char lock_path[256];
	struct km_ctl_client clients[KM_CTL_MAX_CLIENTS];
};

/*
 * Handles one request (a parsed JSON object with a string "cmd"); returns
 * the reply object (the server adds "ok":true unless it has "ok"), or NULL
 * with a message in @err for an error reply.
 */
typedef struct json_object *(*km_ctl_handler)(const char *cmd,
					      struct json_object *req,
					      void *opaque, char *err,
					      size_t errlen);

/*
 * Creates the run directory, takes NAME's lock, removes a stale socket and
 * listens.  -EADDRINUSE: a VM of that name runs already.  Messages in @err.
 */
int km_ctl_server_open(struct km_ctl_server *srv, const char *name,
		       char *err, size_t errlen);
/* Removes the socket and the lock file and closes everything. */
void km_ctl_server_close(struct km_ctl_server *srv);
/* Fills @pfds (room for 1 + KM_CTL_MAX_CLIENTS); returns the count. */
unsigned int km_ctl_server_pollfds(struct km_ctl_server *srv, struct pollfd *pfds);
/* Serves what poll() reported in @pfds (as filled by the call above). */
void km_ctl_server_serve(struct km_ctl_server *srv, const struct pollfd *pfds,
			 unsigned int n, km_ctl_handler fn, void *opaque);

#endif /* KM_CTL_H */
