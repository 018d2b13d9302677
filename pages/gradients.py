from ui import inside_pages, state

state.require_entry_script()

inside_pages.gradients_page()
