#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The bytes tests/lab-vm/virtio_test.sh's guest writes to its virtio disk
# and the lab host checks in the image: 128 numbered lines of 130 bytes.
i=0
while [ $i -lt 128 ]; do
	printf 'kmigrate virtio-blk record %05d %s%s\n' $i \
		0123456789abcdef0123456789abcdef0123456789abcdef \
		fedcba9876543210fedcba9876543210fedcba9876543210
	i=$((i + 1))
done
