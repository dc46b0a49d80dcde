/*
 * Running OTA slot and rollback state for hosts/esp32/ota.ts (ESP-IDF app_update component),
 * and whether a data partition is encrypted, for hosts/esp32/host.ts (esp_partition).
 */
#include "xsmc.h"
#include "xsHost.h"
#include "mc.xs.h"
#include "app_update/include/esp_ota_ops.h"
#include "esp_app_desc.h"

void xs_pipewatch_ota_running(xsMachine *the)
{
	const esp_partition_t *partition = esp_ota_get_running_partition();
	const esp_app_desc_t *description = esp_app_get_description();
	esp_ota_img_states_t state = ESP_OTA_IMG_UNDEFINED;
	int slot = -1;
	int trial = 0;

	if (partition) {
		if ((partition->subtype >= ESP_PARTITION_SUBTYPE_APP_OTA_MIN) && (partition->subtype < ESP_PARTITION_SUBTYPE_APP_OTA_MAX))
			slot = partition->subtype - ESP_PARTITION_SUBTYPE_APP_OTA_MIN;
		if (ESP_OK == esp_ota_get_state_partition(partition, &state))
			trial = (ESP_OTA_IMG_PENDING_VERIFY == state);
	}

	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	xsmcSetInteger(xsVar(0), slot);
	xsmcSet(xsResult, xsID_slot, xsVar(0));
	xsmcSetString(xsVar(0), (char *)description->version);
	xsmcSet(xsResult, xsID_version, xsVar(0));
	xsmcSetBoolean(xsVar(0), trial);
	xsmcSet(xsResult, xsID_trial, xsVar(0));
}

void xs_pipewatch_ota_confirm(xsMachine *the)
{
	esp_ota_img_states_t state;
	const esp_partition_t *partition = esp_ota_get_running_partition();

	if (!partition || (ESP_OK != esp_ota_get_state_partition(partition, &state)))
		return;		/* factory image or no otadata: nothing to confirm */
	if (ESP_OTA_IMG_PENDING_VERIFY != state)
		return;
	if (ESP_OK != esp_ota_mark_app_valid_cancel_rollback())
		xsUnknownError("OTA confirm failed");
}

/*
 * esp_partition_t.encrypted of the data partition named by the argument: true when the
 * partition table flags it `encrypted` and flash encryption is enabled (then esp_partition_read
 * decrypts and esp_partition_write encrypts in 16-byte units). The SDK's embedded:storage/flash
 * status() does not report it. False when there is no such partition.
 */
void xs_pipewatch_partition_encrypted(xsMachine *the)
{
	const esp_partition_t *partition = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, xsmcToString(xsArg(0)));
	xsmcSetBoolean(xsResult, (partition != NULL) && partition->encrypted);
}
