/* pipewatch --check: ESP-IDF not used */
