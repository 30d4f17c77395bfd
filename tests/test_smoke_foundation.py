def test_workspace_home_for_owner(manager_client, tenant):
    response = manager_client.get(tenant.url())
    assert response.status_code == 200
    assert "Clinic alpha" in response.get_data(as_text=True)
