/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmigrate: kernel-assisted live migration of KVM guests.
 *
 * This is the one ABI header shared by kmigrate.ko, the kmigrate tool and
 * the tests.  Every structure uses fixed-width fields with explicit padding;
 * padding and reserved fields must be zero and unknown flag bits are refused
 * with -EOPNOTSUPP, so the ABI can grow by adding attributes, feature bits
 * and fields carved out of reserved space.
 *
 * Two interfaces are offered:
 *
 * 1. The character device /dev/kmigrate (mode 0600).  Each open file is one
 *    migration session (see enum kmigrate_session_state); at most
 *    %KMIGRATE_A_MAX_SESSIONS may be open at once (-EBUSY beyond).  Its ioctls use one magic, KMIGRATE_IOC_MAGIC,
 *    with numbered ranges:
 *
 *      0x00-0x0f  version and feature negotiation   (this file, ABI 1)
 *      0x10-0x1f  attaching a KVM VM                (reserved)
 *      0x20-0x2f  binding the migration socket      (reserved)
 *      0x30-0x3f  harvesting and sending pages      (reserved)
 *
 *    An ioctl the module does not know returns -ENOTTY.
 *
 * 2. The generic netlink family KMIGRATE_GENL_NAME, version
 *    KMIGRATE_GENL_VERSION.  Every command has a strict attribute policy:
 *    an attribute that is not part of the command's policy, or a malformed
 *    one, is refused with -EINVAL and an extended ack message.  Commands
 *    that change state require CAP_NET_ADMIN (-EPERM otherwise).
 */
#ifndef _UAPI_LINUX_KMIGRATE_H
#define _UAPI_LINUX_KMIGRATE_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Bumped on any incompatible change of this header. */
#define KMIGRATE_ABI_VERSION		1

/* Name of the misc character device, i.e. /dev/kmigrate. */
#define KMIGRATE_DEVICE_NAME		"kmigrate"

/* ------------------------------------------------------------------ */
/* Character device                                                    */
/* ------------------------------------------------------------------ */

#define KMIGRATE_IOC_MAGIC		0xB8

/*
 * Optional features a file context can enable with KMIGRATE_SET_FEATURES.
 * ABI 1 defines none yet; KMIGRATE_FEATURES_ALL lists every bit this header
 * knows, and the module refuses any other bit with -EOPNOTSUPP.
 */
#define KMIGRATE_FEATURES_ALL		0ULL

/**
 * struct kmigrate_version - answer of KMIGRATE_GET_VERSION
 * @abi_version: KMIGRATE_ABI_VERSION the module was built with.
 * @flags: in: must be zero (no flags defined yet); out: zero.
 * @features: every feature bit the module supports.
 * @module_version: NUL-terminated module version string.
 */
struct kmigrate_version {
	__u32 abi_version;
	__u32 flags;
	__u64 features;
	char module_version[48];
};

/**
 * struct kmigrate_features - argument of KMIGRATE_SET_FEATURES
 * @features: feature bits to enable for this file; each must be supported.
 * @flags: must be zero.
 * @reserved: must be zero.
 */
struct kmigrate_features {
	__u64 features;
	__u32 flags;
	__u32 reserved;
};

/* 0x00-0x0f: version and features. */
#define KMIGRATE_GET_VERSION	_IOWR(KMIGRATE_IOC_MAGIC, 0x00, struct kmigrate_version)
#define KMIGRATE_GET_FEATURES	_IOR(KMIGRATE_IOC_MAGIC, 0x01, struct kmigrate_features)
#define KMIGRATE_SET_FEATURES	_IOW(KMIGRATE_IOC_MAGIC, 0x02, struct kmigrate_features)

/* ------------------------------------------------------------------ */
/* Generic netlink                                                     */
/* ------------------------------------------------------------------ */

#define KMIGRATE_GENL_NAME		"kmigrate"
#define KMIGRATE_GENL_VERSION		1

/**
 * enum kmigrate_cmd - generic netlink commands
 * @KMIGRATE_CMD_GET_INFO: module information (doit).  Request: no
 *	attributes.  Reply: %KMIGRATE_A_MODULE_VERSION, %KMIGRATE_A_ABI_VERSION,
 *	%KMIGRATE_A_GENL_VERSION, %KMIGRATE_A_FEATURES,
 *	%KMIGRATE_A_SESSION_COUNT, %KMIGRATE_A_MAX_SESSIONS,
 *	%KMIGRATE_A_DEFAULT_BANDWIDTH.
 * @KMIGRATE_CMD_GET_SESSION: list migration sessions (dumpit).  Each reply
 *	message carries one %KMIGRATE_A_SESSION nest.
 * @KMIGRATE_CMD_SET_CONFIG: change host-wide limits (admin only).  Request:
 *	any of %KMIGRATE_A_MAX_SESSIONS, %KMIGRATE_A_DEFAULT_BANDWIDTH and
 *	%KMIGRATE_A_FLAGS; at least one limit or %KMIGRATE_CONFIG_F_RESET
 *	must be given (-EINVAL otherwise).  Success is acked with no reply.
 */
enum kmigrate_cmd {
	KMIGRATE_CMD_UNSPEC,
	KMIGRATE_CMD_GET_INFO,
	KMIGRATE_CMD_GET_SESSION,
	KMIGRATE_CMD_SET_CONFIG,

	__KMIGRATE_CMD_MAX,
	KMIGRATE_CMD_MAX = __KMIGRATE_CMD_MAX - 1
};

/*
 * Flags carried in %KMIGRATE_A_FLAGS of KMIGRATE_CMD_SET_CONFIG.
 * @KMIGRATE_CONFIG_F_RESET: restore every limit not given in the request to
 *	its load-time default.
 */
#define KMIGRATE_CONFIG_F_RESET		(1U << 0)
#define KMIGRATE_CONFIG_F_ALL		(KMIGRATE_CONFIG_F_RESET)

/* Range and load-time default of %KMIGRATE_A_MAX_SESSIONS. */
#define KMIGRATE_MAX_SESSIONS_LIMIT	256
#define KMIGRATE_MAX_SESSIONS_DEFAULT	16

/**
 * enum kmigrate_attr - top-level attributes
 * @KMIGRATE_A_MODULE_VERSION: string, module version.
 * @KMIGRATE_A_ABI_VERSION: u32, KMIGRATE_ABI_VERSION of the module.
 * @KMIGRATE_A_GENL_VERSION: u32, KMIGRATE_GENL_VERSION of the module.
 * @KMIGRATE_A_FEATURES: u64, KMIGRATE_FEATURES_* supported.
 * @KMIGRATE_A_SESSION_COUNT: u32, sessions (open files of /dev/kmigrate).
 * @KMIGRATE_A_MAX_SESSIONS: u32, sessions allowed at once
 *	(1..%KMIGRATE_MAX_SESSIONS_LIMIT, default %KMIGRATE_MAX_SESSIONS_DEFAULT);
 *	lowering it below the current count refuses new sessions only.
 * @KMIGRATE_A_DEFAULT_BANDWIDTH: u64, bandwidth cap in bytes per second
 *	given to new sessions; 0 means unlimited.
 * @KMIGRATE_A_FLAGS: u32, request flags of the command.
 * @KMIGRATE_A_SESSION: nest of enum kmigrate_session_attr.
 * @KMIGRATE_A_PAD: padding for 64-bit attributes.
 */
enum kmigrate_attr {
	KMIGRATE_A_UNSPEC,
	KMIGRATE_A_MODULE_VERSION,
	KMIGRATE_A_ABI_VERSION,
	KMIGRATE_A_GENL_VERSION,
	KMIGRATE_A_FEATURES,
	KMIGRATE_A_SESSION_COUNT,
	KMIGRATE_A_MAX_SESSIONS,
	KMIGRATE_A_DEFAULT_BANDWIDTH,
	KMIGRATE_A_FLAGS,
	KMIGRATE_A_SESSION,
	KMIGRATE_A_PAD,

	__KMIGRATE_A_MAX,
	KMIGRATE_A_MAX = __KMIGRATE_A_MAX - 1
};

/**
 * enum kmigrate_session_attr - attributes nested in %KMIGRATE_A_SESSION
 * @KMIGRATE_SESSION_A_ID: u32, session id, unique while the module is loaded.
 * @KMIGRATE_SESSION_A_OWNER_PID: u32, thread group id that created it, as
 *	seen from the reader's pid namespace (0 when not visible there).
 * @KMIGRATE_SESSION_A_STATE: u32, enum kmigrate_session_state.
 * @KMIGRATE_SESSION_A_BANDWIDTH: u64, bandwidth cap in bytes per second.
 * @KMIGRATE_SESSION_A_PAD: padding for 64-bit attributes.
 */
enum kmigrate_session_attr {
	KMIGRATE_SESSION_A_UNSPEC,
	KMIGRATE_SESSION_A_ID,
	KMIGRATE_SESSION_A_OWNER_PID,
	KMIGRATE_SESSION_A_STATE,
	KMIGRATE_SESSION_A_BANDWIDTH,
	KMIGRATE_SESSION_A_PAD,

	__KMIGRATE_SESSION_A_MAX,
	KMIGRATE_SESSION_A_MAX = __KMIGRATE_SESSION_A_MAX - 1
};

/**
 * enum kmigrate_session_state - life of a session
 * @KMIGRATE_SESSION_IDLE: file opened, no VM attached.
 * @KMIGRATE_SESSION_ATTACHED: a VM is attached, nothing sent yet.
 * @KMIGRATE_SESSION_RUNNING: rounds in progress.
 * @KMIGRATE_SESSION_DONE: finished; counters are final.
 * @KMIGRATE_SESSION_FAILED: ended with an error.
 */
enum kmigrate_session_state {
	KMIGRATE_SESSION_IDLE,
	KMIGRATE_SESSION_ATTACHED,
	KMIGRATE_SESSION_RUNNING,
	KMIGRATE_SESSION_DONE,
	KMIGRATE_SESSION_FAILED,

	__KMIGRATE_SESSION_STATE_MAX,
	KMIGRATE_SESSION_STATE_MAX = __KMIGRATE_SESSION_STATE_MAX - 1
};

#endif /* _UAPI_LINUX_KMIGRATE_H */
