/*
 * Sleep, radio power save and retained memory for hosts/esp32/power.ts (ESP-IDF esp_sleep,
 * esp_wifi, esp_pm; docs/energy.md).
 *
 * - retained: 4 KiB in RTC slow memory (RTC_DATA_ATTR: initialised at power-on, kept across deep
 *   sleep), copied to and from an ArrayBuffer of exactly that size.
 * - the clock offset: ms of monotonic time before this boot (the ticks counter restarts at each
 *   boot; deep sleep adds the ticks at the sleep and the time slept), so the node's monotonic
 *   clock runs on across deep sleep.
 * - deepSleep(ms, nowMs): timer wake-up after ms, esp_deep_sleep_start (does not return).
 * - lightSleep(ms): timer wake-up after ms, esp_light_sleep_start (Wi-Fi is not kept: the
 *   light-sleep mode uses autoLightSleep instead).
 * - autoLightSleep(on): Wi-Fi modem sleep (WIFI_PS_MAX_MODEM / WIFI_PS_MIN_MODEM) and ESP-IDF power
 *   management with automatic light sleep (needs CONFIG_PM_ENABLE; otherwise esp_pm_configure
 *   answers ESP_ERR_NOT_SUPPORTED, returned as is).
 */
#include "xsmc.h"
#include "xsHost.h"
#include "mc.xs.h"
#include "esp_attr.h"
#include "esp_sleep.h"
#include "esp_wifi.h"
#include "esp_pm.h"

#define PIPEWATCH_RETAINED_BYTES 4096

static RTC_DATA_ATTR uint8_t gRetained[PIPEWATCH_RETAINED_BYTES];
static RTC_DATA_ATTR double gClockOffsetMs;

void xs_pipewatch_power_retained_read(xsMachine *the)
{
	if (xsmcGetArrayBufferLength(xsArg(0)) != PIPEWATCH_RETAINED_BYTES)
		xsRangeError("retained: 4096 bytes");
	xsmcSetArrayBufferData(xsArg(0), 0, gRetained, PIPEWATCH_RETAINED_BYTES);
}

void xs_pipewatch_power_retained_write(xsMachine *the)
{
	if (xsmcGetArrayBufferLength(xsArg(0)) != PIPEWATCH_RETAINED_BYTES)
		xsRangeError("retained: 4096 bytes");
	xsmcGetArrayBufferData(xsArg(0), 0, gRetained, PIPEWATCH_RETAINED_BYTES);
}

void xs_pipewatch_power_wake_cause(xsMachine *the)
{
	xsmcSetBoolean(xsResult, ESP_SLEEP_WAKEUP_TIMER == esp_sleep_get_wakeup_cause());
}

void xs_pipewatch_power_clock_offset(xsMachine *the)
{
	if (ESP_SLEEP_WAKEUP_TIMER != esp_sleep_get_wakeup_cause())
		gClockOffsetMs = 0;
	xsmcSetNumber(xsResult, gClockOffsetMs);
}

void xs_pipewatch_power_deep_sleep(xsMachine *the)
{
	double ms = xsmcToNumber(xsArg(0));
	double nowMs = xsmcToNumber(xsArg(1));
	if (!(ms >= 0) || (ms > 86400000.0))
		xsRangeError("deep sleep: 0 to 86400000 ms");
	if (ESP_OK != esp_sleep_enable_timer_wakeup((uint64_t)(ms * 1000.0)))
		xsUnknownError("deep sleep: timer wake-up refused");
	gClockOffsetMs += nowMs + ms;
	esp_deep_sleep_start();
}

void xs_pipewatch_power_light_sleep(xsMachine *the)
{
	double ms = xsmcToNumber(xsArg(0));
	if (!(ms >= 0) || (ms > 86400000.0))
		xsRangeError("light sleep: 0 to 86400000 ms");
	if (ESP_OK != esp_sleep_enable_timer_wakeup((uint64_t)(ms * 1000.0)))
		xsUnknownError("light sleep: timer wake-up refused");
	xsmcSetInteger(xsResult, esp_light_sleep_start());
}

void xs_pipewatch_power_auto_light_sleep(xsMachine *the)
{
	int on = xsmcToBoolean(xsArg(0));
	esp_pm_config_t config = { .max_freq_mhz = 160, .min_freq_mhz = 40, .light_sleep_enable = on ? true : false };
	esp_err_t err = esp_wifi_set_ps(on ? WIFI_PS_MAX_MODEM : WIFI_PS_MIN_MODEM);
	if (ESP_OK == err)
		err = esp_pm_configure(&config);
	xsmcSetInteger(xsResult, err);
}
