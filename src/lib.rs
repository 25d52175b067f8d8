// SPDX-License-Identifier: MIT

//! Integration tests and examples of gst-portrait live in tests/ and examples/.
