/* The parts of the ublk UAPI (the kernel's include/uapi/linux/ublk_cmd.h)
 * that vramd uses and that Debian 12's linux-libc-dev (kernel 6.1) lacks:
 * the ioctl-encoded command numbers (kernel 6.3 on), GET_FEATURES (6.5 on)
 * and the later feature bits.  Each is defined only where the system header
 * does not have it, so a newer header wins. */
#ifndef VRAMD_UBLK_ABI_H
#define VRAMD_UBLK_ABI_H

#include <linux/ioctl.h>
#include <linux/ublk_cmd.h>

/* Control commands numbered after 6.1's header. */
#ifndef UBLK_CMD_GET_DEV_INFO2
#define UBLK_CMD_GET_DEV_INFO2		0x12
#endif
#define VRAMD_UBLK_CMD_GET_FEATURES	0x13

/* Commands as ioctl numbers ('u', nr, the command structure): a kernel with
 * UBLK_F_CMD_IOCTL_ENCODE takes these; one built without
 * CONFIG_BLKDEV_UBLK_LEGACY_OPCODES takes only these. */
#ifndef UBLK_U_CMD_ADD_DEV
#define UBLK_U_CMD_GET_DEV_INFO		_IOR('u', UBLK_CMD_GET_DEV_INFO, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV		_IOWR('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV		_IOWR('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV		_IOWR('u', UBLK_CMD_START_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV		_IOWR('u', UBLK_CMD_STOP_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS		_IOWR('u', UBLK_CMD_SET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_PARAMS		_IOR('u', UBLK_CMD_GET_PARAMS, struct ublksrv_ctrl_cmd)
#endif
#ifndef UBLK_U_CMD_GET_FEATURES
#define UBLK_U_CMD_GET_FEATURES		_IOR('u', VRAMD_UBLK_CMD_GET_FEATURES, struct ublksrv_ctrl_cmd)
#endif
#ifndef UBLK_U_IO_FETCH_REQ
#define UBLK_U_IO_FETCH_REQ		_IOWR('u', UBLK_IO_FETCH_REQ, struct ublksrv_io_cmd)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ	_IOWR('u', UBLK_IO_COMMIT_AND_FETCH_REQ, struct ublksrv_io_cmd)
#endif

#ifndef UBLK_MAX_NR_QUEUES
#define UBLK_MAX_NR_QUEUES		4096
#endif

/* Feature bits (ublksrv_ctrl_dev_info.flags, GET_FEATURES). */
#ifndef UBLK_F_UNPRIVILEGED_DEV
#define UBLK_F_UNPRIVILEGED_DEV		(1ULL << 5)
#endif
#ifndef UBLK_F_CMD_IOCTL_ENCODE
#define UBLK_F_CMD_IOCTL_ENCODE		(1ULL << 6)
#endif
#ifndef UBLK_F_USER_COPY
#define UBLK_F_USER_COPY		(1ULL << 7)
#endif
#ifndef UBLK_F_ZONED
#define UBLK_F_ZONED			(1ULL << 8)
#endif
#ifndef UBLK_F_USER_RECOVERY_FAIL_IO
#define UBLK_F_USER_RECOVERY_FAIL_IO	(1ULL << 9)
#endif
#ifndef UBLK_F_UPDATE_SIZE
#define UBLK_F_UPDATE_SIZE		(1ULL << 10)
#endif

/* The feature bits by name, for the statistics document: X(bit, name).
 * Bits a newer kernel adds show up as "bitN". */
#define UBLK_FEATURES(X) \
	X(0, "zero_copy") X(1, "cmd_comp_in_task") X(2, "need_get_data") \
	X(3, "user_recovery") X(4, "user_recovery_reissue") X(5, "unprivileged_dev") \
	X(6, "cmd_ioctl_encode") X(7, "user_copy") X(8, "zoned") \
	X(9, "user_recovery_fail_io") X(10, "update_size")

#endif
