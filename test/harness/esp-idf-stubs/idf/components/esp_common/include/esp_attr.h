/* Stub of ESP-IDF v5 esp_attr.h for the native compile check (see ../../../../README.md). */
#pragma once

/* Data kept in RTC slow memory: initialised at power-on, kept across deep sleep. */
#define RTC_DATA_ATTR __attribute__((section(".rtc.data")))
