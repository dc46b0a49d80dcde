/*
 * Running OTA slot and rollback state for hosts/esp32/ota.ts (ESP-IDF app_update component).
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
