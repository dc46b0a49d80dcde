/* Stub of ESP-IDF v5 esp_wifi.h (and the wifi_ps_type_t of esp_wifi_types.h) for the native compile check (see ../../../../README.md). */
#pragma once
#include "esp_err.h"

typedef enum {
	WIFI_PS_NONE,
	WIFI_PS_MIN_MODEM,
	WIFI_PS_MAX_MODEM,
} wifi_ps_type_t;

esp_err_t esp_wifi_set_ps(wifi_ps_type_t type);
esp_err_t esp_wifi_start(void);
esp_err_t esp_wifi_stop(void);
