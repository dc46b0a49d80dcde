/* Stub of XS's ESP32 platform header (xs/platforms/esp/xsHost.h) for the native compile check (see ../../../README.md). */
#pragma once
#include <stdint.h>

void modLog_transmit(const char *msg);
uint32_t modMilliseconds(void);
