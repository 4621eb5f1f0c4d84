/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kmigrate.ko selftests (chardev_test, genl_test,
 * kmt_probe).  Nothing here depends on the kselftest harness, so the
 * helpers can run in forked children that must not longjmp into it.
 *
 * Conventions: functions return 0 or a negative errno.  Netlink helpers
 * return the kernel's error code exactly as carried in the NLMSG_ERROR
 * (or NLMSG_DONE) message; a failure of the transport itself (libnl
 * error, unexpected message) is reported as KMT_ETRANSPORT.
 */
#ifndef KMTEST_H
#define KMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>

#include <linux/kmigrate.h>

#define KMT_DEV_PATH		"/dev/" KMIGRATE_DEVICE_NAME
#define KMT_SYSFS_MODULE	"/sys/module/kmigrate"
#define KMT_MISC_MAJOR		10
#define KMT_MISC_MINOR		250
#define KMT_NOBODY		65534

/* Not an errno: the netlink conversation itself failed. */
#define KMT_ETRANSPORT		(-100000)

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

/* ---- character device ---------------------------------------------- */

/* open(/dev/kmigrate); returns the fd or -errno. */
int kmt_open(int flags);
/* Opens n sessions into fds[]; returns how many were opened, *err = errno of the first failure. */
int kmt_open_many(int *fds, int n, int *err);
void kmt_close_all(int *fds, int n);
/* ioctl() returning 0 or -errno. */
int kmt_ioctl(int fd, unsigned long req, void *arg);

/* Read a small sysfs/proc file, trailing newline stripped; 0 or -errno. */
int kmt_read_file(const char *path, char *buf, size_t len);

/* ---- privileges ---------------------------------------------------- */

/* setgroups(0), setresgid/setresuid(65534): drops every capability. */
int kmt_become_nobody(void);
/* Keep only the capabilities in mask (bit n = capability n) in the
 * effective, permitted and inheritable sets, staying uid 0. */
int kmt_caps_keep_only(uint64_t mask);

/* Drop capability cap from the effective, permitted and inheritable sets. */
int kmt_caps_drop(int cap);

/*
 * Run fn(arg) in a forked child; returns the child's exit status (0..255)
 * or -128 - signal when it was killed.  The child _exit()s with fn's
 * return value, so fn must return 0..255.
 */
int kmt_run_child(int (*fn)(void *arg), void *arg);

/* ---- generic netlink ----------------------------------------------- */

struct kmt_nl {
	struct nl_sock *sk;
	int family;
};

/* Extended ack and bookkeeping of one request. */
struct kmt_ack {
	int error;		/* 0 or negative errno from the kernel */
	bool has_msg;		/* NLMSGERR_ATTR_MSG present */
	char msg[256];
	bool has_offs;		/* NLMSGERR_ATTR_OFFS present */
	uint32_t offs;
	int nmsgs;		/* valid (non-control) replies seen */
	bool dump_intr;		/* a reply (or NLMSG_DONE) had NLM_F_DUMP_INTR */
};

/* Connect and enable NETLINK_EXT_ACK; family = -1.  0 or -errno. */
int kmt_nl_connect(struct kmt_nl *nl);
/* kmt_nl_connect() and resolve the kmigrate family: 0, -ENOENT when the
 * family does not exist (socket closed), or another -errno. */
int kmt_nl_open(struct kmt_nl *nl);
void kmt_nl_close(struct kmt_nl *nl);

/* genl request for the kmigrate family; nlm_flags e.g. NLM_F_DUMP. */
struct nl_msg *kmt_msg_new(const struct kmt_nl *nl, uint8_t cmd, int nlm_flags);

/*
 * Called for every reply message; tb[] is the top-level attributes parsed
 * without a policy (type 0..KMIGRATE_A_MAX); return 0 to go on.
 */
typedef int (*kmt_reply_fn)(struct nlmsghdr *nlh, struct nlattr **tb, void *arg);

/*
 * Send msg (consumed) and read until the ACK, the error or the end of the
 * dump.  Returns the kernel's error (0 or -errno) or KMT_ETRANSPORT; ack
 * may be NULL.
 */
int kmt_nl_xfer(struct kmt_nl *nl, struct nl_msg *msg, kmt_reply_fn fn,
		void *arg, struct kmt_ack *ack);

/* Answer of KMIGRATE_CMD_GET_INFO. */
enum {
	KMT_INFO_MODULE_VERSION	= 1u << KMIGRATE_A_MODULE_VERSION,
	KMT_INFO_ABI_VERSION	= 1u << KMIGRATE_A_ABI_VERSION,
	KMT_INFO_GENL_VERSION	= 1u << KMIGRATE_A_GENL_VERSION,
	KMT_INFO_FEATURES	= 1u << KMIGRATE_A_FEATURES,
	KMT_INFO_SESSION_COUNT	= 1u << KMIGRATE_A_SESSION_COUNT,
	KMT_INFO_MAX_SESSIONS	= 1u << KMIGRATE_A_MAX_SESSIONS,
	KMT_INFO_DEFAULT_BW	= 1u << KMIGRATE_A_DEFAULT_BANDWIDTH,
	KMT_INFO_ALL		= KMT_INFO_MODULE_VERSION | KMT_INFO_ABI_VERSION |
				  KMT_INFO_GENL_VERSION | KMT_INFO_FEATURES |
				  KMT_INFO_SESSION_COUNT | KMT_INFO_MAX_SESSIONS |
				  KMT_INFO_DEFAULT_BW,
};

struct kmt_info {
	unsigned int present;	/* KMT_INFO_* bits of attributes seen */
	unsigned int bad_len;	/* KMT_INFO_* bits of attributes of the wrong size */
	char module_version[256];
	bool module_version_nul;	/* payload ends with its NUL */
	uint32_t abi_version;
	uint32_t genl_version;
	uint64_t features;
	uint32_t session_count;
	uint32_t max_sessions;
	uint64_t default_bandwidth;
	uint8_t reply_cmd;
};

int kmt_get_info(struct kmt_nl *nl, struct kmt_info *info, struct kmt_ack *ack);

/* One entry of the KMIGRATE_CMD_GET_SESSION dump. */
struct kmt_session {
	unsigned int present;	/* 1 << KMIGRATE_SESSION_A_* seen */
	unsigned int bad_len;	/* 1 << KMIGRATE_SESSION_A_* of the wrong size */
	uint32_t id;
	uint32_t owner_pid;
	uint32_t state;
	uint64_t bandwidth;
};

#define KMT_SESSION_ALL	((1u << KMIGRATE_SESSION_A_ID) | \
			 (1u << KMIGRATE_SESSION_A_OWNER_PID) | \
			 (1u << KMIGRATE_SESSION_A_STATE) | \
			 (1u << KMIGRATE_SESSION_A_BANDWIDTH))

struct kmt_dump {
	struct kmt_session *s;	/* caller's array */
	int max;		/* its size */
	int n;			/* entries reported (may exceed max) */
	int no_nest;		/* reply messages without a KMIGRATE_A_SESSION */
	int multi;		/* messages carrying NLM_F_MULTI */
};

int kmt_dump_sessions(struct kmt_nl *nl, struct kmt_dump *d, struct kmt_ack *ack);
/* Number of entries in d whose owner is pid. */
int kmt_dump_count_pid(const struct kmt_dump *d, uint32_t pid);
/* true when the ids of d are pairwise distinct. */
bool kmt_dump_ids_unique(const struct kmt_dump *d);

/* KMIGRATE_CMD_SET_CONFIG with any of the three attributes. */
struct kmt_cfg {
	bool has_max;
	uint32_t max_sessions;
	bool has_bw;
	uint64_t default_bandwidth;
	bool has_flags;
	uint32_t flags;
};

int kmt_set_config(struct kmt_nl *nl, const struct kmt_cfg *cfg, struct kmt_ack *ack);
/* max_sessions = default, FLAGS = RESET: back to load-time defaults. */
int kmt_reset_config(struct kmt_nl *nl);

/* Look the family up through the generic netlink controller. */
struct kmt_family {
	bool found;
	uint32_t version;
	uint32_t hdrsize;
	uint32_t maxattr;
	int nops;
	struct { uint32_t id, flags; } ops[32];
};

int kmt_ctrl_getfamily(struct kmt_nl *nl, const char *name, struct kmt_family *fam,
		       struct kmt_ack *ack);

#endif /* KMTEST_H */
