/* Stub of ESP-IDF esp_partition.h for the native compile check (see ../../../../README.md). */
#pragma once
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "esp_err.h"

typedef enum {
	ESP_PARTITION_TYPE_APP = 0x00,
	ESP_PARTITION_TYPE_DATA = 0x01,
	ESP_PARTITION_TYPE_ANY = 0xff,
} esp_partition_type_t;

typedef enum {
	ESP_PARTITION_SUBTYPE_APP_FACTORY = 0x00,
	ESP_PARTITION_SUBTYPE_APP_OTA_MIN = 0x10,
	ESP_PARTITION_SUBTYPE_APP_OTA_0 = ESP_PARTITION_SUBTYPE_APP_OTA_MIN + 0,
	ESP_PARTITION_SUBTYPE_APP_OTA_1 = ESP_PARTITION_SUBTYPE_APP_OTA_MIN + 1,
	ESP_PARTITION_SUBTYPE_APP_OTA_MAX = ESP_PARTITION_SUBTYPE_APP_OTA_MIN + 16,
	ESP_PARTITION_SUBTYPE_APP_TEST = 0x20,
	ESP_PARTITION_SUBTYPE_DATA_OTA = 0x00,
	ESP_PARTITION_SUBTYPE_ANY = 0xff,
} esp_partition_subtype_t;

typedef struct esp_flash_t esp_flash_t;

typedef struct {
	esp_flash_t *flash_chip;
	esp_partition_type_t type;
	esp_partition_subtype_t subtype;
	uint32_t address;
	uint32_t size;
	uint32_t erase_size;
	char label[17];
	bool encrypted;
	bool readonly;
} esp_partition_t;

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type, esp_partition_subtype_t subtype, const char *label);
