from ui import state, use_pages

state.require_entry_script()

use_pages.data_page()
