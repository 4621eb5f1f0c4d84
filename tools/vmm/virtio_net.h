/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvmm: virtio-net (virtio 1.x, section 5.1) over the PCI transport,
 * backed by a tap device.
 *
 * kmigrate creates the tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, named
 * after the VM, not persistent: it goes away with the VM's process) and
 * attaches it to the named bridge with rtnetlink (IFLA_MASTER), or opens
 * an existing tap.  The tap's vnet header is set to the 12 bytes of
 * struct virtio_net_hdr_v1, so a frame passes between a virtqueue and the
 * tap as it is.  No offloads are offered: the guest checksums and
 * segments itself.  Features: MAC, STATUS (link up).
 *
 * One thread per NIC polls the tap (only while the guest has posted
 * receive buffers) and the eventfds the queue notifications write.
 */
#ifndef KMIGRATE_VIRTIO_NET_H
#define KMIGRATE_VIRTIO_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm.h"
#include "virtio_pci.h"

#define VNET_QUEUE_SIZE	256
#define VNET_HDR_LEN	12	/* struct virtio_net_hdr_v1 */

struct virtio_net;

/*
 * The MAC a NIC gets when none is given: locally administered, stable for
 * a VM name and NIC index (02:6b:6d + 24 bits of a hash of both).
 */
void vnet_default_mac(const char *vm_name, unsigned int index, uint8_t mac[6]);
/* The tap kmigrate creates: "km-NAME-N", or a hash of NAME when too long. */
void vnet_tap_name(const char *vm_name, unsigned int index, char name[IFNAMSIZ]);
/* "52:54:00:12:34:56" -> mac; refuses multicast addresses.  0 or -EINVAL. */
int vnet_parse_mac(const char *s, uint8_t mac[6]);

int virtio_net_create(struct virtio_net **out, const struct vmm_net_cfg *cfg,
		      const struct vq_gmem *mem, FILE *log, char *err, size_t errlen);
int virtio_net_start(struct virtio_net *n);
void virtio_net_destroy(struct virtio_net *n);
struct virtio_pci *virtio_net_pci(struct virtio_net *n);
void virtio_net_info(struct virtio_net *n, struct vmm_dev_info *info);
/* The tap (its vnet header: VNET_HDR_LEN), for announce.c; the NIC owns it. */
int virtio_net_tap_fd(const struct virtio_net *n);

#endif
