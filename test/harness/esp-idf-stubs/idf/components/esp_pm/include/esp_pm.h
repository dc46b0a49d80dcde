/* Stub of ESP-IDF v5 esp_pm.h for the native compile check (see ../../../../README.md). */
#pragma once
#include <stdbool.h>
#include "esp_err.h"

typedef struct {
	int max_freq_mhz;
	int min_freq_mhz;
	bool light_sleep_enable;
} esp_pm_config_t;

esp_err_t esp_pm_configure(const void *config);
